/* A block header's commit certificate checked in the browser: the validators' precommit signatures.
 *
 * Written for Gusu from the published algorithms, for exactly what its crypto suites do
 * (src/gusu/crypto/sm.py, ecdsa.py; src/gusu/ledger/lightclient.py's verify_commit_signatures):
 *
 * - "sm" suite: SM2 signature verification, GB/T 32918.2-2016 section 7, on the recommended curve of
 *   GB/T 32918.5; the signer ID is always "1234567812345678" (GM/T 0009), so
 *   Z_A = SM3(ENTL_A || ID_A || a || b || x_G || y_G || x_A || y_A) and e = SM3(Z_A || M). Public keys are
 *   0x04 || X || Y (65 bytes).
 * - "ecdsa" suite: ECDSA (SEC 1 v2, section 4.1.4) on secp256k1 (SEC 2) over a 32-byte digest that is signed
 *   as is; public keys are compressed (33 bytes, 0x02/0x03 || X); only low-S signatures are accepted, as
 *   Gusu's verify refuses high S.
 *
 * Signatures are r || s, 32 bytes each. What a validator signs for a block is
 * suite_hash(encode(["gusu.precommit.v1", chain_id, height, round, block_hash, timestamp_ms])) (SM3 or
 * keccak-256 from hash.js; the canonical encoding from proof.js). The validator set's hash is
 * suite_hash(encode(["gusu.validators.v1", [[address, public_key, power], ...]])) with the members sorted by
 * address. The arithmetic is BigInt in Jacobian coordinates; nothing here is secret, so it need not run in
 * constant time.
 *
 * Loaded after hash.js and proof.js (GusuHash, GusuProof).
 */
"use strict";
(function (root) {
  const SIGNER_ID = new TextEncoder().encode("1234567812345678");
  const SIGNATURES_MAX = 1024; // a certificate's limit (COMMIT_SIGNATURES_MAX)
  const VALIDATORS_MAX = 1024; // more than any configuration may list (VALIDATORS_MAX in genesis and consensus)
  const VALIDATOR_POWER_MAX = 2n ** 40n;
  const HASH_NAMES = Object.freeze({ sm: "SM3", ecdsa: "keccak-256" });

  // --- curves -----------------------------------------------------------------------------------

  function curve(fields) {
    const c = {};
    for (const [name, hex] of Object.entries(fields)) c[name] = BigInt("0x" + hex);
    return Object.freeze(c);
  }

  // GB/T 32918.5: the SM2 recommended curve, y^2 = x^3 + ax + b over F_p with a = p - 3.
  const SM2_P = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF";
  const SM2 = curve({
    p: SM2_P,
    a: "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC",
    b: "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93",
    n: "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123",
    gx: "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7",
    gy: "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0",
  });

  // SEC 2, section 2.4.1: secp256k1, y^2 = x^3 + 7.
  const SECP256K1 = curve({
    p: "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F",
    a: "0",
    b: "7",
    n: "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141",
    gx: "79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798",
    gy: "483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8",
  });

  function mod(value, modulus) {
    const rest = value % modulus;
    return rest < 0n ? rest + modulus : rest;
  }

  function modPow(base, exponent, modulus) {
    let result = 1n;
    let square = mod(base, modulus);
    for (let e = exponent; e > 0n; e >>= 1n) {
      if (e & 1n) result = (result * square) % modulus;
      square = (square * square) % modulus;
    }
    return result;
  }

  /* value^-1 mod modulus (modulus prime, value not a multiple of it), by the extended Euclidean algorithm. */
  function modInverse(value, modulus) {
    let [previousRest, rest] = [mod(value, modulus), modulus];
    let [previousFactor, factor] = [1n, 0n];
    while (rest !== 0n) {
      const quotient = previousRest / rest;
      [previousRest, rest] = [rest, previousRest - quotient * rest];
      [previousFactor, factor] = [factor, previousFactor - quotient * factor];
    }
    if (previousRest !== 1n) throw new Error("not invertible");
    return mod(previousFactor, modulus);
  }

  function bytesToBigInt(bytes) {
    let value = 0n;
    for (const byte of bytes) value = (value << 8n) | BigInt(byte);
    return value;
  }

  function bigIntToBytes(value, size) {
    const out = new Uint8Array(size);
    let rest = value;
    for (let i = size - 1; i >= 0; i--) {
      out[i] = Number(rest & 0xffn);
      rest >>= 8n;
    }
    return out;
  }

  function isOnCurve(c, x, y) {
    if (x < 0n || x >= c.p || y < 0n || y >= c.p) return false;
    return mod(y * y - (x * x * x + c.a * x + c.b), c.p) === 0n;
  }

  // Points in Jacobian coordinates [X, Y, Z] for the affine (X / Z^2, Y / Z^3); Z = 0 is the point at infinity.
  const INFINITY = Object.freeze([1n, 1n, 0n]);

  function pointDouble(c, point) {
    const [x, y, z] = point;
    if (z === 0n || y === 0n) return INFINITY;
    const p = c.p;
    const yy = (y * y) % p;
    const s = (4n * x * yy) % p;
    const zz = (z * z) % p;
    const m = (3n * x * x + c.a * ((zz * zz) % p)) % p;
    const x3 = mod(m * m - 2n * s, p);
    const y3 = mod(m * (s - x3) - 8n * ((yy * yy) % p), p);
    const z3 = (2n * y * z) % p;
    return [x3, y3, z3];
  }

  function pointAdd(c, first, second) {
    if (first[2] === 0n) return second;
    if (second[2] === 0n) return first;
    const p = c.p;
    const [x1, y1, z1] = first;
    const [x2, y2, z2] = second;
    const z1z1 = (z1 * z1) % p;
    const z2z2 = (z2 * z2) % p;
    const u1 = (x1 * z2z2) % p;
    const u2 = (x2 * z1z1) % p;
    const s1 = (((y1 * z2) % p) * z2z2) % p;
    const s2 = (((y2 * z1) % p) * z1z1) % p;
    if (u1 === u2) return s1 === s2 ? pointDouble(c, first) : INFINITY;
    const h = mod(u2 - u1, p);
    const r = mod(s2 - s1, p);
    const hh = (h * h) % p;
    const hhh = (h * hh) % p;
    const v = (u1 * hh) % p;
    const x3 = mod(r * r - hhh - 2n * v, p);
    const y3 = mod(r * (v - x3) - s1 * hhh, p);
    const z3 = (((z1 * z2) % p) * h) % p;
    return [x3, y3, z3];
  }

  function affineX(c, point) {
    const zInverse = modInverse(point[2], c.p);
    return (point[0] * ((zInverse * zInverse) % c.p)) % c.p;
  }

  /* k1 * G + k2 * Q in one pass over the bits (Shamir's trick); k1, k2 in [0, n). */
  function linearCombination(c, k1, k2, q) {
    const g = [c.gx, c.gy, 1n];
    const both = pointAdd(c, g, q);
    let result = INFINITY;
    const bits = Math.max(k1.toString(2).length, k2.toString(2).length);
    for (let i = BigInt(bits - 1); i >= 0n; i--) {
      result = pointDouble(c, result);
      const first = (k1 >> i) & 1n;
      const second = (k2 >> i) & 1n;
      if (first && second) result = pointAdd(c, result, both);
      else if (first) result = pointAdd(c, result, g);
      else if (second) result = pointAdd(c, result, q);
    }
    return result;
  }

  function hash(hashName, ...parts) {
    const hasher = GusuHash.create(hashName);
    for (const part of parts) hasher.update(part);
    return hasher.digest();
  }

  function readSignature(c, signature) {
    if (!(signature instanceof Uint8Array) || signature.length !== 64) return null;
    const r = bytesToBigInt(signature.subarray(0, 32));
    const s = bytesToBigInt(signature.subarray(32));
    return r > 0n && r < c.n && s > 0n && s < c.n ? [r, s] : null;
  }

  // --- SM2 ---------------------------------------------------------------------------------------

  /* Z_A of GB/T 32918.2 section 5.5 for a 65-byte public key and the signer ID. */
  function computeSm2Z(publicKey, signerId = SIGNER_ID) {
    const bits = signerId.length * 8;
    const fields = [SM2.a, SM2.b, SM2.gx, SM2.gy].map((value) => bigIntToBytes(value, 32));
    return hash("SM3", Uint8Array.of(bits >> 8, bits & 0xff), signerId, ...fields, publicKey.subarray(1));
  }

  /* True only if `signature` (r || s) is a valid SM2 signature of the raw message `message` by `publicKey`
   * (0x04 || X || Y) with Gusu's signer ID; false for anything else, never an exception. */
  function sm2Verify(publicKey, message, signature) {
    try {
      if (!(publicKey instanceof Uint8Array) || publicKey.length !== 65 || publicKey[0] !== 4) return false;
      if (!(message instanceof Uint8Array)) return false;
      const x = bytesToBigInt(publicKey.subarray(1, 33));
      const y = bytesToBigInt(publicKey.subarray(33));
      if (!isOnCurve(SM2, x, y)) return false; // the cofactor is 1: every curve point is in the group
      const rs = readSignature(SM2, signature);
      if (rs === null) return false;
      const [r, s] = rs;
      const e = bytesToBigInt(hash("SM3", computeSm2Z(publicKey), message));
      const t = (r + s) % SM2.n;
      if (t === 0n) return false;
      const point = linearCombination(SM2, s, t, [x, y, 1n]);
      if (point[2] === 0n) return false;
      return (e + affineX(SM2, point)) % SM2.n === r;
    } catch (error) {
      return false;
    }
  }

  // --- ECDSA on secp256k1 ---------------------------------------------------------------------------

  /* [x, y] of a compressed secp256k1 key, or null if it is not one. p = 3 (mod 4), so a square root of
   * v is v^((p + 1) / 4) when one exists. */
  function decompressSecp256k1(publicKey) {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 33) return null;
    if (publicKey[0] !== 2 && publicKey[0] !== 3) return null;
    const p = SECP256K1.p;
    const x = bytesToBigInt(publicKey.subarray(1));
    if (x >= p) return null;
    const ySquared = mod(x * x * x + SECP256K1.b, p);
    let y = modPow(ySquared, (p + 1n) / 4n, p);
    if ((y * y) % p !== ySquared) return null;
    if (Number(y & 1n) !== (publicKey[0] & 1)) y = mod(-y, p);
    return [x, y];
  }

  /* True only if `signature` (r || s, low S) is a valid secp256k1 ECDSA signature of the 32-byte `digest`
   * by the compressed `publicKey`; false for anything else, never an exception. */
  function ecdsaVerify(publicKey, digest, signature) {
    try {
      if (!(digest instanceof Uint8Array) || digest.length !== 32) return false;
      const point = decompressSecp256k1(publicKey);
      if (point === null) return false;
      const rs = readSignature(SECP256K1, signature);
      if (rs === null) return false;
      const [r, s] = rs;
      if (s > SECP256K1.n / 2n) return false; // high S: the other form of a low-S signature
      const e = mod(bytesToBigInt(digest), SECP256K1.n);
      const w = modInverse(s, SECP256K1.n);
      const sum = linearCombination(SECP256K1, (e * w) % SECP256K1.n, (r * w) % SECP256K1.n, [point[0], point[1], 1n]);
      if (sum[2] === 0n) return false;
      return affineX(SECP256K1, sum) % SECP256K1.n === r;
    } catch (error) {
      return false;
    }
  }

  /* A suite's verify: `message` is what the suite signs (for both suites in Gusu, a 32-byte digest). */
  function verify(suiteName, publicKey, message, signature) {
    if (suiteName === "sm") return sm2Verify(publicKey, message, signature);
    if (suiteName === "ecdsa") return ecdsaVerify(publicKey, message, signature);
    return false;
  }

  // --- what validators sign ------------------------------------------------------------------------------

  function encodeCommitVote(chainId, height, round, blockHash, timestampMs) {
    return GusuProof.encode(["gusu.precommit.v1", chainId, height, round, blockHash, timestampMs]);
  }

  function compareBytes(a, b) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  }

  /* The canonical encoding of a validator set ([{address, public_key, power}], bytes and BigInt power), the
   * input of its hash (gusu.ledger.validators.compute_validators_hash). */
  function encodeValidators(validators) {
    const ordered = [...validators].sort((a, b) => compareBytes(a.address, b.address));
    return GusuProof.encode(["gusu.validators.v1", ordered.map((v) => [v.address, v.public_key, v.power])]);
  }

  // --- the certificate check -------------------------------------------------------------------------------

  class CertificateError extends Error {
    constructor(code, detail) {
      super(detail ? `${code}: ${detail}` : code);
      this.code = code;
    }
  }

  function readValidators(set) {
    if (set === null || set === undefined) throw new CertificateError("validators_unknown");
    const list = set.validators;
    if (!Array.isArray(list) || list.length === 0 || list.length > VALIDATORS_MAX) {
      throw new CertificateError("validators_invalid", "a set lists 1 to " + VALIDATORS_MAX + " validators");
    }
    return list.map((item) => {
      const power = BigInt(item.power);
      if (!Number.isSafeInteger(item.power) || power < 1n || power > VALIDATOR_POWER_MAX) {
        throw new CertificateError("validators_invalid", "power " + String(item.power));
      }
      return { name: String(item.name), address: GusuProof.fromHex(item.address, 20),
        public_key: GusuProof.fromHex(item.public_key), power };
    });
  }

  function guard(run) {
    try {
      return run();
    } catch (error) {
      if (error instanceof CertificateError || error instanceof GusuProof.ProofError) {
        return { ok: false, error: error.message, code: error.code };
      }
      return { ok: false, error: String(error), code: "proof_incomplete" };
    }
  }

  const NOT_CHECKED = Object.freeze({ ok: false, code: "not_checked", error: "an earlier step failed" });

  /* Check the commit certificate in a proof answer (/api/transactions/{id}/proof: suite, header, certificate,
   * validator_set) against the header, as verify_commit_signatures does. Returns {ok, validators, block,
   * quorum, signatures, elapsed_ms}: each step {ok, ..., code?, error?}; ok only when every step holds.
   *
   * validators: the set given hashes to the header's validators_hash (so it is the set the header names).
   * block: the certificate is for this header's height and for the hash of this header.
   * quorum: distinct members of the set, holding more than 2/3 of its power, signed.
   * signatures: every signature verifies against its validator's key, over the precommit of this block. */
  function checkCommitCertificate(document) {
    const started = typeof performance === "undefined" ? Date.now() : performance.now();
    const suite = document.suite;
    const hashName = HASH_NAMES[suite];
    let members = null;
    let blockHash = null;
    const validators = guard(() => {
      if (hashName === undefined) throw new CertificateError("suite_unknown", String(suite));
      const set = document.validator_set;
      if (set && set.consensus === "raft") throw new CertificateError("engine_raft");
      const list = readValidators(set);
      const computed = hash(hashName, encodeValidators(list));
      const expected = GusuProof.fromHex(document.header.validators_hash, 32);
      const total = list.reduce((sum, member) => sum + member.power, 0n);
      const ok = compareBytes(computed, expected) === 0;
      if (ok) members = list; // only the set the header names may be counted
      return { ok, computed_hash: GusuProof.toHex(computed), expected_hash: GusuProof.toHex(expected),
        count: list.length, total_power: total.toString(),
        members: list.map((m) => ({ name: m.name, address: GusuProof.toHex(m.address), power: m.power.toString() })),
        ...(ok ? {} : { code: "validators_other", error: GusuProof.toHex(computed) }) };
    });
    const block = guard(() => {
      const certificate = document.certificate;
      if (!certificate) throw new CertificateError("certificate_missing");
      const computed = hash(hashName, GusuProof.encodeHeader(document.header));
      const named = GusuProof.fromHex(certificate.block_hash, 32);
      const ok = certificate.height === document.header.height && compareBytes(named, computed) === 0;
      if (ok) blockHash = computed;
      return { ok, height: certificate.height, round: certificate.round, block_hash: GusuProof.toHex(named),
        expected_hash: GusuProof.toHex(computed), expected_height: document.header.height,
        ...(ok ? {} : { code: "certificate_other", error: `${certificate.height} ${GusuProof.toHex(named)}` }) };
    });
    let quorum = NOT_CHECKED;
    let signatures = NOT_CHECKED;
    if (validators.ok && block.ok) {
      const entries = document.certificate.signatures;
      quorum = guard(() => {
        if (!Array.isArray(entries) || entries.length > SIGNATURES_MAX) {
          throw new CertificateError("certificate_invalid", "signatures: a list of at most " + SIGNATURES_MAX);
        }
        const byAddress = new Map(members.map((member) => [GusuProof.toHex(member.address), member]));
        const total = members.reduce((sum, member) => sum + member.power, 0n);
        const seen = new Set();
        let power = 0n;
        let problem = null;
        for (const entry of entries) {
          const address = GusuProof.toHex(GusuProof.fromHex(entry.validator, 20));
          const member = byAddress.get(address);
          if (member === undefined) problem = problem || { code: "signer_unknown", error: address };
          else if (seen.has(address)) problem = problem || { code: "signer_repeated", error: address };
          else power += member.power;
          seen.add(address);
        }
        const needed = (2n * total) / 3n + 1n;
        const ok = problem === null && 3n * power > 2n * total;
        return { ok, power: power.toString(), total_power: total.toString(), quorum_power: needed.toString(),
          signers: entries.length, ...(problem === null ? (ok ? {} : { code: "quorum_short", error: `${power} / ${total}` }) : problem) };
      });
      if (quorum.ok) {
        signatures = guard(() => {
          const certificate = document.certificate;
          const byAddress = new Map(members.map((member) => [GusuProof.toHex(member.address), member]));
          const results = entries.map((entry) => {
            const member = byAddress.get(GusuProof.toHex(GusuProof.fromHex(entry.validator, 20)));
            const vote = encodeCommitVote(document.header.chain_id, certificate.height, certificate.round, blockHash,
              entry.timestamp_ms);
            const ok = verify(suite, member.public_key, hash(hashName, vote), GusuProof.fromHex(entry.signature, 64));
            return { validator: GusuProof.toHex(member.address), name: member.name, ok };
          });
          const bad = results.filter((item) => !item.ok).map((item) => item.validator);
          return { ok: bad.length === 0, count: results.length, results,
            ...(bad.length === 0 ? {} : { code: "signature_invalid", error: bad.join(", ") }) };
        });
      }
    }
    const ended = typeof performance === "undefined" ? Date.now() : performance.now();
    return { ok: validators.ok && block.ok && quorum.ok && signatures.ok, validators, block, quorum, signatures,
      elapsed_ms: ended - started };
  }

  root.GusuSig = Object.freeze({
    SM2, SECP256K1, SIGNER_ID, CertificateError, computeSm2Z, sm2Verify, ecdsaVerify, decompressSecp256k1, verify,
    encodeCommitVote, encodeValidators, checkCommitCertificate,
  });
})(globalThis);
