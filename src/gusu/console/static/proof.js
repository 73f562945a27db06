/* Proofs checked in the browser: Gusu's canonical encoding, the block hash and Merkle inclusion proofs.
 *
 * Written for Gusu from the published rules (docs/codec.md: a strict subset of MessagePack, one
 * encoding per value; src/gusu/ledger/merkle.py: the RFC 9162 tree, leaves H(0x00 || item), inner
 * nodes H(0x01 || left || right), an unpaired last node moved up unchanged). The hash is the chain's
 * suite hash from hash.js (SM3 on an `sm` chain, keccak-256 on an `ecdsa` chain).
 *
 * What is checked, given a block header and a proof (docs/console.md, "Proofs in the browser"):
 * the header, encoded here, hashes to the block hash; the transaction id, with its path, leads to the
 * header's transactions root; the receipt's encoding, hashed, leads to the header's receipts root, and
 * decoded here it names this transaction. Nothing the server says about the outcome is trusted.
 */
"use strict";
(function (root) {
  const TEXT_ENCODER = new TextEncoder();
  const TEXT_DECODER = new TextDecoder("utf-8", { fatal: true });
  const PROOF_DEPTH_MAX = 64;
  const INT_MIN = -(2n ** 63n);
  const UINT_MAX = 2n ** 64n - 1n;
  const DEPTH_MAX = 32;

  /* A proof that cannot be checked; `code` names why (the page shows it translated), the message adds detail. */
  class ProofError extends Error {
    constructor(code, detail) {
      super(detail ? `${code}: ${detail}` : code);
      this.code = code;
    }
  }

  function fromHex(text, size) {
    if (typeof text !== "string" || !/^0x([0-9a-fA-F]{2})*$/.test(text)) throw new ProofError("hex_invalid", String(text).slice(0, 80));
    const bytes = new Uint8Array((text.length - 2) / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.substr(2 + 2 * i, 2), 16);
    if (size !== undefined && bytes.length !== size) throw new ProofError("size_invalid", `expected ${size} bytes, found ${bytes.length}`);
    return bytes;
  }

  function toHex(bytes) {
    return "0x" + GusuHash.toHex(bytes);
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    let difference = 0;
    for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
    return difference === 0;
  }

  // --- the canonical encoding --------------------------------------------------------------
  // Values: null, booleans, integers (Number when safe, else BigInt), Uint8Array (bytes), strings, arrays.

  function bigEndian(value, size) {
    const out = new Uint8Array(size);
    let rest = BigInt.asUintN(size * 8, value);
    for (let i = size - 1; i >= 0; i--) {
      out[i] = Number(rest & 0xffn);
      rest >>= 8n;
    }
    return out;
  }

  function lengthHeader(length, tiny, tinyMax, codes) {
    // codes: the 8-, 16- and 32-bit length markers (null where MessagePack has none: arrays have no 8-bit form)
    if (tiny !== null && length <= tinyMax) return Uint8Array.of(tiny | length);
    if (codes[0] !== null && length <= 0xff) return Uint8Array.of(codes[0], length);
    if (length <= 0xffff) return concat(Uint8Array.of(codes[1]), bigEndian(BigInt(length), 2));
    if (length <= 0xffffffff) return concat(Uint8Array.of(codes[2]), bigEndian(BigInt(length), 4));
    throw new ProofError("encoding_invalid", "too long to encode");
  }

  function encodeInteger(number) {
    const value = BigInt(number);
    if (value < INT_MIN || value > UINT_MAX) throw new ProofError("integer_invalid", "out of range");
    if (value >= 0n) {
      if (value <= 0x7fn) return Uint8Array.of(Number(value));
      if (value <= 0xffn) return Uint8Array.of(0xcc, Number(value));
      if (value <= 0xffffn) return concat(Uint8Array.of(0xcd), bigEndian(value, 2));
      if (value <= 0xffffffffn) return concat(Uint8Array.of(0xce), bigEndian(value, 4));
      return concat(Uint8Array.of(0xcf), bigEndian(value, 8));
    }
    if (value >= -32n) return Uint8Array.of(Number(BigInt.asUintN(8, value)));
    if (value >= -128n) return Uint8Array.of(0xd0, Number(BigInt.asUintN(8, value)));
    if (value >= -32768n) return concat(Uint8Array.of(0xd1), bigEndian(value, 2));
    if (value >= -2147483648n) return concat(Uint8Array.of(0xd2), bigEndian(value, 4));
    return concat(Uint8Array.of(0xd3), bigEndian(value, 8));
  }

  function encode(value, depth = 0) {
    if (depth > DEPTH_MAX) throw new ProofError("encoding_invalid", "nested too deeply");
    if (value === null) return Uint8Array.of(0xc0);
    if (value === false) return Uint8Array.of(0xc2);
    if (value === true) return Uint8Array.of(0xc3);
    if (typeof value === "bigint") return encodeInteger(value);
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) throw new ProofError("integer_invalid", String(value));
      return encodeInteger(value);
    }
    if (typeof value === "string") {
      const bytes = TEXT_ENCODER.encode(value);
      return concat(lengthHeader(bytes.length, 0xa0, 31, [0xd9, 0xda, 0xdb]), bytes);
    }
    if (value instanceof Uint8Array) return concat(lengthHeader(value.length, null, 0, [0xc4, 0xc5, 0xc6]), value);
    if (Array.isArray(value)) {
      return concat(lengthHeader(value.length, 0x90, 15, [null, 0xdc, 0xdd]), ...value.map((item) => encode(item, depth + 1)));
    }
    throw new ProofError("encoding_invalid", "cannot encode " + typeof value);
  }

  function decode(bytes) {
    let offset = 0;
    function take(count) {
      if (offset + count > bytes.length) throw new ProofError("encoding_invalid", "truncated");
      const part = bytes.subarray(offset, offset + count);
      offset += count;
      return part;
    }
    function unsigned(count) {
      let value = 0n;
      for (const byte of take(count)) value = (value << 8n) | BigInt(byte);
      return value;
    }
    function integer(value) {
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
    }
    function items(count, depth) {
      const out = [];
      for (let i = 0; i < count; i++) out.push(next(depth + 1));
      return out;
    }
    function next(depth) {
      if (depth > DEPTH_MAX) throw new ProofError("encoding_invalid", "nested too deeply");
      const code = take(1)[0];
      if (code <= 0x7f) return code;
      if (code >= 0xe0) return code - 0x100;
      if (code >= 0xa0 && code <= 0xbf) return TEXT_DECODER.decode(take(code & 0x1f));
      if (code >= 0x90 && code <= 0x9f) return items(code & 0x0f, depth);
      switch (code) {
        case 0xc0: return null;
        case 0xc2: return false;
        case 0xc3: return true;
        case 0xcc: return integer(unsigned(1));
        case 0xcd: return integer(unsigned(2));
        case 0xce: return integer(unsigned(4));
        case 0xcf: return integer(unsigned(8));
        case 0xd0: return integer(BigInt.asIntN(8, unsigned(1)));
        case 0xd1: return integer(BigInt.asIntN(16, unsigned(2)));
        case 0xd2: return integer(BigInt.asIntN(32, unsigned(4)));
        case 0xd3: return integer(BigInt.asIntN(64, unsigned(8)));
        case 0xd9: return TEXT_DECODER.decode(take(Number(unsigned(1))));
        case 0xda: return TEXT_DECODER.decode(take(Number(unsigned(2))));
        case 0xdb: return TEXT_DECODER.decode(take(Number(unsigned(4))));
        case 0xc4: return take(Number(unsigned(1))).slice();
        case 0xc5: return take(Number(unsigned(2))).slice();
        case 0xc6: return take(Number(unsigned(4))).slice();
        case 0xdc: return items(Number(unsigned(2)), depth);
        case 0xdd: return items(Number(unsigned(4)), depth);
        default: throw new ProofError("encoding_invalid", "not in the canonical subset: 0x" + code.toString(16));
      }
    }
    let value;
    try {
      value = next(0);
    } catch (error) {
      if (error instanceof ProofError) throw error;
      throw new ProofError("encoding_invalid", error.message); // invalid UTF-8
    }
    if (offset !== bytes.length) throw new ProofError("encoding_invalid", "trailing bytes");
    // One value, one encoding: what was read must re-encode to the same bytes.
    if (!equal(encode(value), bytes)) throw new ProofError("encoding_invalid", "not the shortest encoding");
    return value;
  }

  // --- records ---------------------------------------------------------------------------------

  const HEADER_HASH_FIELDS = ["parent_hash", "transactions_root", "receipts_root", "state_root", "validators_hash",
    "next_validators_hash"];

  function encodeHeader(header) {
    for (const name of ["chain_id", "height", "timestamp_ms", "proposer", "transaction_count", ...HEADER_HASH_FIELDS]) {
      if (header[name] === undefined) throw new ProofError("header_incomplete", name);
    }
    if (typeof header.chain_id !== "string") throw new ProofError("header_incomplete", "chain_id");
    const hash = (name) => fromHex(header[name], 32);
    return encode([
      "gusu.header.v1", header.chain_id, header.height, hash("parent_hash"), header.timestamp_ms,
      fromHex(header.proposer, 20), hash("transactions_root"), hash("receipts_root"), hash("state_root"),
      hash("validators_hash"), hash("next_validators_hash"), header.transaction_count,
    ]);
  }

  function decodeReceipt(bytes) {
    const fields = decode(bytes);
    if (!Array.isArray(fields) || fields.length !== 8 || fields[0] !== "gusu.receipt.v1") throw new ProofError("receipt_invalid", "not a receipt record");
    const [, transactionId, status, , events, gasUsed, errorCode, errorMessage] = fields;
    if (!(transactionId instanceof Uint8Array) || transactionId.length !== 32) throw new ProofError("receipt_invalid", "transaction id");
    if (status !== 0 && status !== 1) throw new ProofError("receipt_invalid", "status");
    if (!Array.isArray(events)) throw new ProofError("receipt_invalid", "events");
    return { transaction_id: toHex(transactionId), status: status === 0 ? "success" : "failed", gas_used: gasUsed,
      error_code: errorCode, error_message: errorMessage, events: events.length };
  }

  // --- Merkle trees (RFC 9162) ------------------------------------------------------------------

  function leafHash(hashName, item) {
    return GusuHash.create(hashName).update(concat(Uint8Array.of(0), item)).digest();
  }

  function parentHash(hashName, left, right) {
    return GusuHash.create(hashName).update(concat(Uint8Array.of(1), left, right)).digest();
  }

  function computeRoot(hashName, items) {
    if (items.length === 0) return GusuHash.create(hashName).update(new Uint8Array(0)).digest();
    let level = items.map((item) => leafHash(hashName, item));
    while (level.length > 1) {
      const up = [];
      for (let i = 0; i + 1 < level.length; i += 2) up.push(parentHash(hashName, level[i], level[i + 1]));
      if (level.length % 2 === 1) up.push(level[level.length - 1]);
      level = up;
    }
    return level[0];
  }

  /* The root `item` at `index` of a tree of `count` leaves leads to with `path`, or null when the path
   * cannot belong to such a tree (too long, too short, index out of range): RFC 9162, 2.1.3.2. */
  function computeInclusionRoot(hashName, item, index, count, path) {
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(count) || index < 0 || index >= count) return null;
    if (path.length > PROOF_DEPTH_MAX) return null;
    let position = index;
    let last = count - 1;
    let node = leafHash(hashName, item);
    for (const sibling of path) {
      if (last === 0) return null;
      if (position % 2 === 1 || position === last) {
        node = parentHash(hashName, sibling, node);
        if (position % 2 === 0) {
          while (position % 2 === 0 && position !== 0) {
            position = Math.floor(position / 2);
            last = Math.floor(last / 2);
          }
        }
      } else {
        node = parentHash(hashName, node, sibling);
      }
      position = Math.floor(position / 2);
      last = Math.floor(last / 2);
    }
    return last === 0 ? node : null;
  }

  function isValidInclusion(hashName, rootHash, item, index, count, path) {
    const computed = computeInclusionRoot(hashName, item, index, count, path);
    return computed !== null && equal(computed, rootHash);
  }

  // --- a transaction's proofs ----------------------------------------------------------------------

  function checkPath(hashName, item, proof, expectedRoot) {
    const path = proof.path.map((node) => fromHex(node, 32));
    const computed = computeInclusionRoot(hashName, item, proof.index, proof.leaf_count, path);
    return { ok: computed !== null && equal(computed, expectedRoot), computed_root: computed === null ? null : toHex(computed),
      expected_root: toHex(expectedRoot) };
  }

  function guard(run) {
    try {
      return run();
    } catch (error) {
      // Anything else (a field missing from the proof, of the wrong type) is an incomplete proof.
      return error instanceof ProofError ? { ok: false, error: error.message, code: error.code }
        : { ok: false, error: String(error), code: "proof_incomplete" };
    }
  }

  /* Check the console's /api/transactions/{id}/proof answer. Returns {ok, header, transaction, receipt}, each
   * part {ok, computed_..., expected_..., error?}; ok only when every part holds. */
  function checkTransactionProof(document) {
    const hashName = document.hash_name;
    if (hashName !== "SM3" && hashName !== "keccak-256") {
      const unknown = { ok: false, error: String(hashName), code: "hash_unknown" };
      return { ok: false, header: unknown, transaction: unknown, receipt: unknown };
    }
    const header = guard(() => {
      const computed = GusuHash.create(hashName).update(encodeHeader(document.header)).digest();
      return { ok: equal(computed, fromHex(document.block_hash, 32)), computed_hash: toHex(computed),
        expected_hash: document.block_hash };
    });
    const transaction = guard(() => {
      const proof = document.transaction_proof;
      const id = fromHex(document.transaction_id, 32);
      return { ...checkPath(hashName, id, proof, fromHex(document.header.transactions_root, 32)), index: proof.index };
    });
    const receipt = guard(() => {
      const proof = document.receipt_proof;
      const encoding = fromHex(proof.receipt);
      const decoded = decodeReceipt(encoding);
      const item = GusuHash.create(hashName).update(encoding).digest();
      const result = checkPath(hashName, item, proof, fromHex(document.header.receipts_root, 32));
      if (decoded.transaction_id !== document.transaction_id.toLowerCase()) {
        return { ...result, ok: false, decoded, error: decoded.transaction_id, code: "receipt_other" };
      }
      return { ...result, decoded };
    });
    return { ok: header.ok && transaction.ok && receipt.ok, header, transaction, receipt };
  }

  root.GusuProof = Object.freeze({
    ProofError, fromHex, toHex, encode, decode, encodeHeader, decodeReceipt, leafHash, computeRoot,
    computeInclusionRoot, isValidInclusion, checkTransactionProof,
  });
})(globalThis);
