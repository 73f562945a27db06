/* The consumer page's QC report check (/trace): hash the chosen file in the browser with the chain's
 * suite hash (GusuHash from hash.js) and compare it with the hash the inspector recorded on chain.
 * The file never leaves the browser. Messages come from the page's data attributes (already translated).
 */
"use strict";
(() => {
  const box = document.getElementById("trace-report");
  const input = document.getElementById("trace-report-file");
  const result = document.getElementById("trace-report-result");
  if (!box || !input || !result) return;
  const CHUNK_BYTES = 4 * 1024 * 1024;
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    const hasher = GusuHash.create(box.dataset.hashName);
    for (let offset = 0; offset < file.size; offset += CHUNK_BYTES) {
      hasher.update(new Uint8Array(await file.slice(offset, offset + CHUNK_BYTES).arrayBuffer()));
    }
    const digest = "0x" + GusuHash.toHex(hasher.digest());
    const matches = digest === box.dataset.expected;
    result.textContent = (matches ? box.dataset.match : box.dataset.mismatch) + " " + digest;
    result.className = matches ? "recorded" : "error";
    result.dataset.matches = String(matches);
  });
})();
