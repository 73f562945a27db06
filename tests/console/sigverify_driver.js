/* Runs the console's browser crypto (static/hash.js, proof.js, sigverify.js) under node for
 * tests/console/test_console_sigverify.py: reads {"static": dir, "cases": {...}} as JSON on stdin and writes
 * what the scripts compute, as JSON, on stdout. The scripts are evaluated in this realm, as a page would. */
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const request = JSON.parse(fs.readFileSync(0, "utf8"));
for (const name of ["hash.js", "proof.js", "sigverify.js"]) {
  vm.runInThisContext(fs.readFileSync(path.join(request.static, name), "utf8"), { filename: name });
}
const { GusuHash, GusuProof, GusuSig } = globalThis;
const bytes = (hex) => GusuProof.fromHex(hex);
const hex = (value) => GusuProof.toHex(value);
const cases = request.cases;

const output = {
  hashes: cases.hashes.map((item) => GusuHash.digestHex(item.hash_name, bytes(item.data))),
  sm2_z: cases.sm2_z.map((item) => hex(GusuSig.computeSm2Z(bytes(item.public_key)))),
  verify: cases.verify.map((item) => GusuSig.verify(item.suite, bytes(item.public_key), bytes(item.message),
    bytes(item.signature))),
  commit_votes: cases.commit_votes.map((item) => hex(GusuSig.encodeCommitVote(item.chain_id, item.height, item.round,
    bytes(item.block_hash), item.timestamp_ms))),
  validators_hashes: cases.validators_hashes.map((item) => GusuHash.digestHex(item.hash_name,
    GusuSig.encodeValidators(item.validators.map((v) => ({ address: bytes(v.address), public_key: bytes(v.public_key),
      power: BigInt(v.power) }))))),
  certificates: cases.certificates.map((answer) => {
    const result = GusuSig.checkCommitCertificate(answer);
    const code = (step) => (step.code === undefined ? null : step.code);
    return { ok: result.ok, elapsed_ms: result.elapsed_ms,
      steps: Object.fromEntries(["validators", "block", "quorum", "signatures"].map((name) =>
        [name, { ok: result[name].ok, code: code(result[name]) }])) };
  }),
};
process.stdout.write(JSON.stringify(output));
