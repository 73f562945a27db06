/* The evidence service's public verification page (/evidence/verify): hash the visitor's file in the browser
 * and compare it with the record the server rendered (#evidence-record data-sm3 / data-sha256).
 *
 * The file never leaves the browser. SM3 comes from hash.js (incremental, 4 MiB slices); SHA-256 from
 * WebCrypto, which browsers offer only on https or localhost pages, and only for a whole buffer, so it is
 * computed for files up to SHA256_BYTES_MAX. A salt (0x hex), when the record was salted, is hashed first.
 */
"use strict";
(function () {
  const MESSAGES = JSON.parse(document.getElementById("gusu-messages").textContent);
  const CHUNK_BYTES = 4 * 1024 * 1024;
  const SHA256_BYTES_MAX = 256 * 1024 * 1024;
  const main = document.getElementById("app");
  const record = document.getElementById("evidence-record");
  const input = document.getElementById("evidence-file");
  const saltInput = document.getElementById("evidence-salt");
  const result = document.getElementById("evidence-file-result");
  if (!record || !input || !result) return;

  function t(key, params) {
    const template = MESSAGES[key] === undefined ? key : MESSAGES[key];
    return template.replace(/\{([a-z_]+)\}/g, (whole, name) =>
      params && params[name] !== undefined ? String(params[name]) : whole,
    );
  }

  function line(id, className, text) {
    const node = document.createElement("p");
    node.id = id;
    node.className = className;
    node.textContent = text;
    return node;
  }

  function parseSalt(text) {
    const hex = text.trim().replace(/^0x/i, "");
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return null;
    const bytes = new Uint8Array(hex.length / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(2 * i, 2), 16);
    return bytes;
  }

  async function check() {
    const file = input.files && input.files[0];
    if (!file) return;
    const limit = Number(main.dataset.fileBytesMax);
    if (file.size > limit) {
      result.replaceChildren(line("evidence-match", "error", t("verify.too_large", { limit })));
      return;
    }
    const salt = parseSalt(saltInput ? saltInput.value : "");
    if (salt === null) {
      result.replaceChildren(line("evidence-match", "error", t("evidence.salt_invalid")));
      return;
    }
    const progress = line("evidence-progress", "", t("verify.hashing", { percent: 0 }));
    result.replaceChildren(progress);
    let sm3;
    let sha256 = null;
    try {
      const hasher = GusuHash.create("SM3");
      hasher.update(salt);
      for (let offset = 0; offset < file.size; offset += CHUNK_BYTES) {
        const chunk = new Uint8Array(await file.slice(offset, offset + CHUNK_BYTES).arrayBuffer());
        hasher.update(chunk);
        progress.textContent = t("verify.hashing", { percent: Math.floor(((offset + chunk.length) * 100) / file.size) });
      }
      sm3 = "0x" + GusuHash.toHex(hasher.digest());
      if (globalThis.crypto && crypto.subtle && file.size <= SHA256_BYTES_MAX) {
        const whole = new Uint8Array(salt.length + file.size);
        whole.set(salt, 0);
        whole.set(new Uint8Array(await file.arrayBuffer()), salt.length);
        sha256 = "0x" + GusuHash.toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", whole)));
      }
    } catch (error) {
      result.replaceChildren(line("evidence-match", "error", t("verify.read_failed")));
      return;
    }
    const sm3Matches = sm3 === record.dataset.sm3;
    const sha256Matches = sha256 === null ? null : sha256 === record.dataset.sha256;
    const matches = sm3Matches && sha256Matches !== false;
    const verdict = line("evidence-match", matches ? "recorded" : "not-recorded",
      t(matches ? "evidence.match" : "evidence.mismatch"));
    verdict.dataset.match = String(matches);
    const details = document.createElement("dl");
    details.className = "fields";
    for (const [label, value, ok] of [
      ["evidence.file_hash_sm", sm3, sm3Matches],
      ["evidence.file_hash_sha", sha256 === null ? t("evidence.sha_unavailable") : sha256, sha256Matches],
    ]) {
      const dt = document.createElement("dt");
      dt.textContent = t(label);
      const dd = document.createElement("dd");
      dd.className = "mono";
      dd.textContent = value + (ok === null ? "" : ok ? "  ✓" : "  ✗");
      details.append(dt, dd);
    }
    result.replaceChildren(verdict, details);
  }

  const drop = document.getElementById("evidence-drop");
  if (drop) {
    drop.addEventListener("dragover", (event) => event.preventDefault());
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        check();
      }
    });
  }
  input.addEventListener("change", check);
  if (saltInput) saltInput.addEventListener("change", check);
})();
