/* The evidence depositor's page (/evidence): hash the chosen file in the browser and put only its hashes in
 * the submit form (hidden fields sm3, sha256, salt).
 *
 * The file input has no name, so the file itself is never posted. SM3 comes from hash.js (4 MiB slices),
 * SHA-256 from WebCrypto (https or localhost pages), for a whole buffer, hence SHA256_BYTES_MAX: the contract
 * records both hashes. Small files are salted (as `gusu evidence submit` does below 64 bytes) with 16 random
 * bytes: the page shows the salt, which the depositor keeps with the file.
 */
"use strict";
(function () {
  const MESSAGES = JSON.parse(document.getElementById("gusu-messages").textContent);
  const CHUNK_BYTES = 4 * 1024 * 1024;
  const SHA256_BYTES_MAX = 256 * 1024 * 1024;
  const LOW_ENTROPY_BYTES = 64;
  const SALT_BYTES = 16;
  const input = document.getElementById("evidence-deposit-file");
  const mode = document.getElementById("evidence-salt-mode");
  const result = document.getElementById("evidence-deposit-hashes");
  const button = document.getElementById("evidence-submit");
  const fields = {
    sm3: document.getElementById("evidence-sm3-field"),
    sha256: document.getElementById("evidence-sha256-field"),
    salt: document.getElementById("evidence-salt-field"),
  };
  if (!input || !mode || !result || !button || !fields.sm3 || !fields.sha256 || !fields.salt) return;

  function t(key, params) {
    const template = MESSAGES[key] === undefined ? key : MESSAGES[key];
    return template.replace(/\{([a-z_]+)\}/g, (whole, name) =>
      params && params[name] !== undefined ? String(params[name]) : whole,
    );
  }

  function line(className, text) {
    const node = document.createElement("p");
    node.className = className;
    node.textContent = text;
    return node;
  }

  function clear() {
    fields.sm3.value = "";
    fields.sha256.value = "";
    fields.salt.value = "";
    button.disabled = true;
    result.dataset.ready = "false";
  }

  async function hash() {
    clear();
    const file = input.files && input.files[0];
    if (!file) {
      result.replaceChildren();
      return;
    }
    if (file.size > SHA256_BYTES_MAX) {
      result.replaceChildren(line("error", t("verify.too_large", { limit: SHA256_BYTES_MAX })));
      return;
    }
    if (!(globalThis.crypto && crypto.subtle)) {
      result.replaceChildren(line("error", t("evidence.sha_required")));
      return;
    }
    const salted = mode.value === "yes" || (mode.value === "auto" && file.size < LOW_ENTROPY_BYTES);
    const salt = new Uint8Array(salted ? SALT_BYTES : 0);
    if (salted) crypto.getRandomValues(salt);
    const progress = line("", t("verify.hashing", { percent: 0 }));
    result.replaceChildren(progress);
    let sm3;
    let sha256;
    try {
      const hasher = GusuHash.create("SM3");
      hasher.update(salt);
      for (let offset = 0; offset < file.size; offset += CHUNK_BYTES) {
        const chunk = new Uint8Array(await file.slice(offset, offset + CHUNK_BYTES).arrayBuffer());
        hasher.update(chunk);
        progress.textContent = t("verify.hashing", { percent: Math.floor(((offset + chunk.length) * 100) / file.size) });
      }
      sm3 = "0x" + GusuHash.toHex(hasher.digest());
      const whole = new Uint8Array(salt.length + file.size);
      whole.set(salt, 0);
      whole.set(new Uint8Array(await file.arrayBuffer()), salt.length);
      sha256 = "0x" + GusuHash.toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", whole)));
    } catch (error) {
      result.replaceChildren(line("error", t("verify.read_failed")));
      return;
    }
    fields.sm3.value = sm3;
    fields.sha256.value = sha256;
    fields.salt.value = salted ? "0x" + GusuHash.toHex(salt) : "";
    const details = document.createElement("dl");
    details.className = "fields";
    const rows = [["evidence.file_hash_sm", sm3], ["evidence.file_hash_sha", sha256]];
    if (salted) rows.push(["evidence.salt_shown", fields.salt.value]);
    for (const [label, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = t(label);
      const dd = document.createElement("dd");
      dd.className = "mono";
      dd.textContent = value;
      details.append(dt, dd);
    }
    result.replaceChildren(line("hint", t("evidence.hashed_locally")), details);
    result.dataset.ready = "true";
    button.disabled = false;
  }

  input.addEventListener("change", hash);
  mode.addEventListener("change", hash);
})();
