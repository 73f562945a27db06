/* The console's pages, filled from the console's JSON API (/api/...).
 *
 * No framework and no build step. Every text from the chain is set with
 * textContent (never innerHTML), so nothing a transaction carries can run here.
 * Messages come from the catalogue the server embedded as JSON (#gusu-messages).
 */
"use strict";
(function () {
  const MESSAGES = JSON.parse(document.getElementById("gusu-messages").textContent);
  const LANGUAGE = document.documentElement.lang;
  const main = document.getElementById("app");
  const POLL_MS = 2000;
  const POLL_BACKOFF_MAX_MS = 15000;
  const HASH_CHUNK_BYTES = 4 * 1024 * 1024;

  function t(key, params) {
    const template = MESSAGES[key] === undefined ? key : MESSAGES[key];
    return template.replace(/\{([a-z_]+)\}/g, (whole, name) =>
      params && params[name] !== undefined ? String(params[name]) : whole,
    );
  }

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function link(href, text, className) {
    return el("a", { href, text, className: className || "mono" });
  }

  function formatTime(ms) {
    return ms ? new Date(ms).toLocaleString(LANGUAGE) : t("common.none");
  }

  function formatNumber(value) {
    return Number(value).toLocaleString(LANGUAGE);
  }

  function formatValue(value) {
    return JSON.stringify(value, null, 1);
  }

  class ApiError extends Error {
    constructor(code, message) {
      super(message);
      this.code = code;
    }
  }

  async function api(path) {
    let response;
    try {
      response = await fetch(path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    } catch (error) {
      throw new ApiError("node_unreachable", String(error));
    }
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const error = body && body.error ? body.error : { code: "internal_error", message: response.statusText };
      throw new ApiError(error.code, error.message);
    }
    return body;
  }

  function errorText(error) {
    const known = {
      not_found: "error.not_found",
      input_invalid: "error.input_invalid",
      node_unreachable: "error.node_unreachable",
      timeout: "error.timeout",
      internal_error: "error.internal",
    };
    const key = known[error.code];
    return key ? t(key) : t("error.generic", { message: error.message });
  }

  function showError(error) {
    main.replaceChildren(el("h1", { text: t("error.title") }), el("p", { className: "error", text: errorText(error) }));
  }

  function fields(rows) {
    const list = el("dl", { className: "fields" });
    for (const [key, value] of rows) {
      list.append(el("dt", { text: t(key) }), el("dd", {}, value instanceof Node ? value : String(value)));
    }
    return list;
  }

  function table(headers, rows) {
    const head = el("tr", {}, ...headers.map((key) => el("th", { text: t(key) })));
    const body = el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((cell) => el("td", {}, cell)))));
    return el("table", {}, el("thead", {}, head), body);
  }

  function blockRows(blocks) {
    return blocks.map((block) => [
      link("/blocks/" + block.height, String(block.height)),
      link("/blocks/" + block.hash, block.hash),
      formatTime(block.timestamp_ms),
      formatNumber(block.transaction_count),
    ]);
  }

  const BLOCK_HEADERS = ["block.height", "block.hash", "block.time", "block.transactions"];

  // --- live status ---------------------------------------------------------------
  // Polling keeps working across node restarts by construction: a failed poll shows the
  // banner and backs off; the first answer after the node is back clears it.
  function setLive(ok) {
    const banner = document.getElementById("live");
    banner.hidden = false;
    banner.className = "live " + (ok ? "ok" : "down");
    banner.textContent = t(ok ? "live.connected" : "live.unreachable");
  }

  function card(key, value, id) {
    return el("div", { className: "card" }, el("div", { className: "label", text: t(key) }),
      el("div", { className: "value", id, text: value }));
  }

  function chart(blocks) {
    const ns = "http://www.w3.org/2000/svg";
    const width = 600;
    const height = 120;
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("width", "100%");
    svg.setAttribute("height", String(height));
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", t("dashboard.chart"));
    const ordered = blocks.slice().reverse();
    const most = Math.max(1, ...ordered.map((block) => block.transaction_count));
    const slot = width / Math.max(1, ordered.length);
    ordered.forEach((block, i) => {
      const bar = document.createElementNS(ns, "rect");
      const barHeight = Math.max(1, (block.transaction_count / most) * (height - 4));
      bar.setAttribute("x", String(i * slot + 1));
      bar.setAttribute("y", String(height - barHeight));
      bar.setAttribute("width", String(Math.max(1, slot - 2)));
      bar.setAttribute("height", String(barHeight));
      const title = document.createElementNS(ns, "title");
      title.textContent = `${block.height}: ${block.transaction_count}`;
      bar.append(title);
      svg.append(bar);
    });
    return el("div", { className: "chart" }, svg);
  }

  // --- live charts (GET /api/chart) -------------------------------------------------------
  // Drawn here as SVG (no library): one point per block, a line through the blocks that have a value
  // (a block whose parent is genesis or outside the window has no interval), the scale from 0 to a
  // rounded maximum. Each point carries its height and value as data attributes and a <title>.
  const SVG_NS = "http://www.w3.org/2000/svg";

  function svgNode(tag, attributes) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    return node;
  }

  function niceMaximum(value) {
    if (!(value > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
    return 10 * power;
  }

  function lineChart(id, points, key, labelKey) {
    const width = 600, height = 170, left = 56, right = 12, top = 10, bottom = 24;
    const svg = svgNode("svg", { id, viewBox: `0 0 ${width} ${height}`, width: "100%", height, role: "img",
      "aria-label": t(labelKey), "data-points": points.filter((point) => point[key] !== null).length,
      "data-last-height": points.length ? points[points.length - 1].height : "" });
    const values = points.map((point) => point[key]).filter((value) => value !== null);
    const most = niceMaximum(Math.max(0, ...values));
    const first = points.length ? points[0].height : 0;
    const span = Math.max(1, (points.length ? points[points.length - 1].height : 0) - first);
    const x = (h) => left + ((h - first) / span) * (width - left - right);
    const y = (value) => top + (1 - value / most) * (height - top - bottom);
    for (const fraction of [0, 0.5, 1]) {
      const level = y(most * fraction);
      svg.append(svgNode("line", { x1: left, x2: width - right, y1: level, y2: level, class: "grid" }));
      const label = svgNode("text", { x: left - 6, y: level + 4, class: "axis", "text-anchor": "end" });
      label.textContent = formatNumber(most * fraction);
      svg.append(label);
    }
    if (points.length) {
      for (const [h, anchor] of [[first, "start"], [points[points.length - 1].height, "end"]]) {
        const label = svgNode("text", { x: x(h), y: height - 6, class: "axis", "text-anchor": anchor });
        label.textContent = `${t("block.height")} ${h}`;
        svg.append(label);
      }
    }
    let segment = [];
    const segments = [segment];
    for (const point of points) {
      if (point[key] === null) {
        segment = [];
        segments.push(segment);
      } else {
        segment.push(`${x(point.height).toFixed(1)},${y(point[key]).toFixed(1)}`);
      }
    }
    for (const line of segments) if (line.length > 1) svg.append(svgNode("polyline", { points: line.join(" "), class: "line" }));
    for (const point of points) {
      if (point[key] === null) continue;
      const dot = svgNode("circle", { cx: x(point.height).toFixed(1), cy: y(point[key]).toFixed(1), r: 2.5,
        class: "point", "data-height": point.height, "data-value": point[key] });
      const title = svgNode("title", {});
      title.textContent = t("dashboard.chart_point", { height: point.height, value: formatNumber(point[key]) });
      dot.append(title);
      svg.append(dot);
    }
    return svg;
  }

  const chartsBox = el("section", { id: "live-charts" });

  function renderCharts(found) {
    const figure = (id, key, labelKey, summary) => el("figure", { className: "chart" },
      el("figcaption", {}, el("strong", { text: t(labelKey) }), " ", el("span", { id: id + "-summary", text: summary })),
      lineChart(id, found.blocks, key, labelKey));
    const timed = found.blocks.some((point) => point.interval_ms !== null);
    const parts = [el("h2", { text: t("dashboard.live_charts", { blocks: found.blocks.length }) })];
    if (!timed) parts.push(el("p", { id: "live-charts-empty", text: t("dashboard.chart_empty") }));
    chartsBox.replaceChildren(...parts,
      el("div", { className: "charts" },
        figure("chart-tps", "tps", "dashboard.chart_tps", t("dashboard.chart_tps_summary", { tps: found.tps.toFixed(2) })),
        figure("chart-interval", "interval_ms", "dashboard.chart_interval",
          found.interval_mean_ms === null ? "" : t("dashboard.chart_interval_summary",
            { interval: formatNumber(found.interval_mean_ms) }))));
  }

  // Firing alerts (GET /api/alerts/firing), for a logged-in viewer: kept in their own element, so they
  // stay on the page and keep refreshing while the node is down, which is when they matter.
  const alertsBox = el("section", { id: "dashboard-alerts" });

  async function refreshAlerts() {
    if (main.dataset.alerts !== "1") return;
    let found;
    try {
      found = await api("/api/alerts/firing");
    } catch (error) {
      return; // the console itself did not answer, or the session ended: keep what is shown
    }
    const rows = found.firing.map((item) => [
      item.rule,
      t("alerts.kind." + item.kind),
      formatTime(item.since_ms),
      el("span", { className: "status-firing", text: t("alerts.status.firing") }),
      // The chain the alert is about: its name when it fired, the console's own endpoint by its label.
      item.chain || (item.chain_id ? "#" + item.chain_id : t("chains.default")),
    ]);
    alertsBox.replaceChildren(
      el("h2", { text: t("dashboard.alerts") }),
      rows.length === 0
        ? el("p", { id: "dashboard-alerts-none", text: t("dashboard.alerts_none") })
        : table(["alerts.rule", "rules.kind", "dashboard.alerts_since", "alerts.status", "rules.chain"], rows),
      el("p", {}, link("/alerts", t("alerts.history_link"), "")));
    if (!alertsBox.isConnected) main.append(alertsBox);
  }

  // The certificate expiry counter (GET /api/certificates), for a logged-in viewer (every role may read
  // it, as it may read alerts): days to the nearest expiry, coloured as the organisations page colours
  // certificates. Expiry moves by days, so it is read once a minute, not at every poll.
  const certificatesBox = el("section", { id: "dashboard-certificates" });
  const CERTIFICATES_REFRESH_MS = 60000;
  const CERTIFICATE_SOURCES = {
    organisation: "dashboard.certificate_source.organisation",
    node: "dashboard.certificate_source.node",
    ca: "dashboard.certificate_source.ca",
    peer: "dashboard.certificate_source.peer",
  };
  let certificatesReadAt = 0;

  async function refreshCertificates() {
    if (main.dataset.alerts !== "1" || Date.now() - certificatesReadAt < CERTIFICATES_REFRESH_MS) return;
    certificatesReadAt = Date.now(); // set before reading, so a poll meanwhile does not read it again
    let found;
    try {
      found = await api("/api/certificates");
    } catch (error) {
      certificatesReadAt = 0; // the node did not answer: the next poll tries again
      return;
    }
    const parts = [el("h2", { text: t("dashboard.certificates") })];
    const nearest = found.nearest;
    if (nearest === null) {
      parts.push(el("p", { id: "certificate-expiry", "data-status": "none", text: t("dashboard.certificate_none") }));
    } else {
      const source = CERTIFICATE_SOURCES[nearest.source] ? t(CERTIFICATE_SOURCES[nearest.source]) : nearest.source;
      const expired = nearest.status === "expired";
      parts.push(el("p", { id: "certificate-expiry", className: "certificate-" + nearest.status, "data-status": nearest.status,
        "data-days": String(nearest.days_left) },
        el("span", { id: "certificate-days", className: "certificate-days", text: formatNumber(Math.abs(nearest.days_left)) }), " ",
        t(expired ? "dashboard.certificate_expired" : "dashboard.certificate_nearest",
          { subject: nearest.subject || nearest.name, source })));
    }
    parts.push(el("p", { id: "certificate-counts", className: "hint", text: t("dashboard.certificate_counts",
      { total: formatNumber(found.total), expiring: formatNumber(found.expiring), expired: formatNumber(found.expired),
        revoked: formatNumber(found.revoked) }) }));
    if (!found.node_metrics_readable) {
      parts.push(el("p", { id: "certificate-metrics-unreadable", className: "hint", text: t("dashboard.certificate_metrics_unreadable") }));
    }
    parts.push(el("p", {}, link("/organisations", t("dashboard.certificates_link"), "")));
    certificatesBox.replaceChildren(...parts);
    if (!certificatesBox.isConnected) main.append(certificatesBox);
  }

  // Chains and nodes with their health (GET /api/chains, and /api/chains/{id} for a chain this console
  // runs), for a logged-in viewer (every role may read chains): one row per node, with its health, height,
  // mempool and peers. Read every 10 s: a local chain's status asks each of its nodes.
  const chainsBox = el("section", { id: "dashboard-chains" });
  const CHAINS_REFRESH_MS = 10000;
  const CHAIN_STATE_KEYS = {
    creating: "chains.state.creating", starting: "chains.state.starting", running: "chains.state.running",
    stopping: "chains.state.stopping", stopped: "chains.state.stopped", failed: "chains.state.failed",
    registered: "chains.state.registered",
  };
  const NODE_HEALTH_KEYS = { up: "dashboard.node_up", unreachable: "dashboard.node_unreachable", down: "dashboard.node_down" };
  let chainsReadAt = 0;

  function nodeHealth(node) {
    return node.reachable ? "up" : node.alive ? "unreachable" : "down";
  }

  async function refreshChains() {
    if (main.dataset.alerts !== "1" || Date.now() - chainsReadAt < CHAINS_REFRESH_MS) return;
    chainsReadAt = Date.now(); // set before reading, so a poll meanwhile does not read it again
    let listed;
    try {
      listed = await api("/api/chains");
    } catch (error) {
      return; // the console did not answer, or the session ended: keep what is shown
    }
    const rows = [];
    for (const chain of listed.chains) {
      const name = link("/chains/" + chain.id, chain.name, "");
      const state = el("span", { className: "chain-state state-" + chain.state, "data-state": chain.state,
        text: CHAIN_STATE_KEYS[chain.state] ? t(CHAIN_STATE_KEYS[chain.state]) : chain.state });
      let nodes = [];
      if (chain.kind === "local") {
        try {
          nodes = (await api("/api/chains/" + encodeURIComponent(chain.id))).nodes || [];
        } catch (error) {
          nodes = [];
        }
      }
      if (nodes.length === 0) rows.push([name, state, "", "", "", "", ""]);
      for (const node of nodes) {
        const health = nodeHealth(node);
        const peers = node.peers_connected === null || node.peers_connected === undefined ? "" :
          t("dashboard.node_peers", { connected: node.peers_connected, expected: node.peers_expected });
        rows.push([name, state, node.name,
          el("span", { className: "node-health " + (health === "up" ? "state-running" : "state-failed"),
            "data-health": health, "data-node": node.name, text: t(NODE_HEALTH_KEYS[health]) }),
          node.height === null || node.height === undefined ? "" : formatNumber(node.height),
          node.mempool_transactions === null || node.mempool_transactions === undefined ? "" : formatNumber(node.mempool_transactions),
          peers]);
      }
    }
    chainsBox.replaceChildren(el("h2", { text: t("dashboard.chains") }),
      rows.length === 0
        ? el("p", { id: "dashboard-chains-none", text: t("dashboard.chains_none") })
        : table(["dashboard.chain", "chains.state", "dashboard.node", "dashboard.node_health", "dashboard.height",
          "dashboard.mempool", "dashboard.peers"], rows),
      el("p", {}, link("/chains", t("dashboard.chains_link"), "")));
    if (!chainsBox.isConnected) main.append(chainsBox);
  }

  function renderDashboard(status) {
    const cards = el("div", { className: "cards" },
      card("dashboard.chain_id", status.chain_id, "chain-id"),
      card("dashboard.height", formatNumber(status.height), "height"),
      card("dashboard.peers", formatNumber(status.peers), "peers"),
      card("dashboard.mempool", t("dashboard.mempool_value", {
        transactions: formatNumber(status.mempool.transactions), bytes: formatNumber(status.mempool.bytes) }), "mempool"),
      card("dashboard.tps", status.tps.toFixed(2), "tps"),
      card("dashboard.consensus", status.consensus, "consensus"),
      card("dashboard.suite", `${status.suite} (${status.hash_name})`, "suite"),
      card("dashboard.node_version", status.node_version, "node-version"));
    main.replaceChildren(
      el("h1", { text: t("dashboard.title") }), cards, alertsBox, chainsBox, certificatesBox, chartsBox,
      el("h2", { text: t("dashboard.chart") }), chart(status.recent_blocks),
      el("h2", { text: t("dashboard.recent_blocks") }),
      table(BLOCK_HEADERS, blockRows(status.recent_blocks)));
  }

  // The first time a page shows its data: a User Timing mark that scripts/measure_console_load.py reads.
  function markReady() {
    if (performance.getEntriesByName("gusu-page-ready").length === 0) performance.mark("gusu-page-ready");
  }

  async function dashboard() {
    let delay = POLL_MS;
    for (;;) {
      await refreshAlerts();
      // Not awaited: a slow node or chain status must not hold back the dashboard's own poll.
      refreshCertificates();
      refreshChains();
      try {
        const [status, charted] = await Promise.all([api("/api/status"), api("/api/chart")]);
        renderCharts(charted);
        renderDashboard(status);
        setLive(true);
        markReady();
        delay = POLL_MS;
      } catch (error) {
        setLive(false);
        delay = Math.min(delay * 2, POLL_BACKOFF_MAX_MS);
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  // --- explorer ----------------------------------------------------------------------
  async function explorer() {
    const before = new URLSearchParams(location.search).get("before");
    const page = await api("/api/blocks" + (before ? "?before=" + encodeURIComponent(before) : ""));
    const pager = el("div", { className: "pager" });
    if (before) pager.append(link("/blocks", t("explorer.latest"), "pager-latest"));
    if (page.next_before !== null) pager.append(link("/blocks?before=" + page.next_before, t("explorer.older"), "pager-older"));
    main.replaceChildren(el("h1", { text: t("explorer.title") }), table(BLOCK_HEADERS, blockRows(page.blocks)), pager);
  }

  function transactionRows(transactions) {
    return transactions.map((item) => [
      link("/transactions/" + item.id, item.id),
      item.transaction ? link("/accounts/" + item.transaction.sender, item.transaction.sender) : t("common.none"),
      item.transaction ? describeCall(item.transaction) : "",
      el("span", { className: "status-" + item.status, text: t("tx.status." + item.status) }),
    ]);
  }

  const TRANSACTION_HEADERS = ["tx.id", "tx.sender", "tx.method", "tx.status"];

  // An Ethereum transaction ("kind": "ethereum") has no contract and method: it names its target.
  function describeCall(tx) {
    if (tx.kind === "ethereum") {
      return tx.to === null ? t("tx.ethereum_create") : t("tx.ethereum_call", { to: tx.to });
    }
    return `${tx.contract}.${tx.method}`;
  }

  // A block's transactions come a page at a time (?offset=N), so a block of thousands stays fast.
  function transactionPager(found) {
    const base = "/blocks/" + found.header.height + "?offset=";
    const pager = el("div", { className: "pager", id: "block-transactions-pager" });
    if (found.transactions_previous_offset !== null && found.transactions_previous_offset !== undefined) {
      pager.append(link(base + found.transactions_previous_offset, t("block.transactions_previous"), "pager-tx-previous"));
    }
    if (found.transactions_next_offset !== null && found.transactions_next_offset !== undefined) {
      pager.append(link(base + found.transactions_next_offset, t("block.transactions_next"), "pager-tx-next"));
    }
    return pager;
  }

  async function block(reference) {
    const offset = new URLSearchParams(location.search).get("offset");
    const found = await api("/api/blocks/" + encodeURIComponent(reference) + (offset ? "?offset=" + encodeURIComponent(offset) : ""));
    const header = found.header;
    const shown = found.transactions.length;
    const first = (found.transactions_offset || 0) + (shown > 0 ? 1 : 0);
    const pager = el("div", { className: "pager" });
    if (header.height > 0) pager.append(link("/blocks/" + (header.height - 1), t("block.previous"), "pager-previous"));
    pager.append(link("/blocks/" + (header.height + 1), t("block.next"), "pager-next"));
    main.replaceChildren(
      el("h1", { text: t("block.title", { height: header.height }) }),
      fields([
        ["block.height", String(header.height)],
        ["block.hash", el("span", { className: "mono", id: "block-hash", text: found.hash })],
        ["block.time", formatTime(header.timestamp_ms)],
        ["block.proposer", el("span", { className: "mono", text: header.proposer })],
        ["block.parent", el("span", { className: "mono", text: header.parent_hash })],
        ["block.state_root", el("span", { className: "mono", text: header.state_root })],
        ["block.transactions_root", el("span", { className: "mono", text: header.transactions_root })],
        ["block.receipts_root", el("span", { className: "mono", text: header.receipts_root })],
        ["block.validators_hash", el("span", { className: "mono", id: "block-validators-hash", text: header.validators_hash })],
        ["block.signatures", String(found.signatures)],
      ]),
      el("h2", { text: t("block.transactions") + ` (${formatNumber(header.transaction_count)})` }),
      el("p", { id: "block-transactions-range", className: "hint", text: t("block.transactions_range",
        { first: formatNumber(first), last: formatNumber((found.transactions_offset || 0) + shown),
          count: formatNumber(header.transaction_count) }) }),
      table(TRANSACTION_HEADERS, transactionRows(found.transactions)), transactionPager(found), pager);
  }

  // --- proofs, checked in this browser (static/proof.js) ---------------------------------------
  // Why a proof could not be checked (GusuProof's error codes), in the page's language.
  const PROOF_REASONS = {
    hex_invalid: "proof.reason.hex_invalid",
    size_invalid: "proof.reason.size_invalid",
    encoding_invalid: "proof.reason.encoding_invalid",
    integer_invalid: "proof.reason.integer_invalid",
    header_incomplete: "proof.reason.header_incomplete",
    receipt_invalid: "proof.reason.receipt_invalid",
    receipt_other: "proof.reason.receipt_other",
    hash_unknown: "proof.reason.hash_unknown",
    proof_incomplete: "proof.reason.proof_incomplete",
    // The commit certificate's checks (static/sigverify.js).
    not_checked: "proof.reason.not_checked",
    suite_unknown: "proof.reason.suite_unknown",
    engine_raft: "proof.reason.engine_raft",
    validators_unknown: "proof.reason.validators_unknown",
    validators_invalid: "proof.reason.validators_invalid",
    validators_other: "proof.reason.validators_other",
    certificate_missing: "proof.reason.certificate_missing",
    certificate_invalid: "proof.reason.certificate_invalid",
    certificate_other: "proof.reason.certificate_other",
    signer_unknown: "proof.reason.signer_unknown",
    signer_repeated: "proof.reason.signer_repeated",
    quorum_short: "proof.reason.quorum_short",
    signature_invalid: "proof.reason.signature_invalid",
  };

  function checkRow(id, labelKey, result, details) {
    const verdict = el("span", { className: result.ok ? "status-success" : "status-failed", id: id + "-result",
      text: t(result.ok ? "proof.passed" : "proof.failed_check") });
    const dd = el("dd", { id, "data-ok": String(result.ok) }, verdict);
    for (const detail of details) if (detail) dd.append(el("div", { className: "mono proof-detail", text: detail }));
    if (result.code) {
      const reason = PROOF_REASONS[result.code] ? t(PROOF_REASONS[result.code]) : result.code;
      dd.append(el("div", { className: "proof-detail", "data-reason": result.code, text: t("proof.error", { message: reason }) }),
        el("div", { className: "mono proof-detail", text: String(result.error) }));
    }
    return [el("dt", { text: t(labelKey) }), dd];
  }

  function renderProofResult(box, answer) {
    let result;
    try {
      result = GusuProof.checkTransactionProof(answer);
    } catch (error) {
      const failed = { ok: false, error: String(error), code: "proof_incomplete" };
      result = { ok: false, header: failed, transaction: failed, receipt: failed };
    }
    const computed = (part, computedKey, expectedKey) => part[computedKey] === undefined ? null :
      t("proof.computed", { computed: part[computedKey] === null ? "-" : part[computedKey], expected: part[expectedKey] });
    const decoded = result.receipt.decoded;
    const list = el("dl", { className: "fields" },
      el("dt", { text: t("proof.algorithm") }), el("dd", { text: String(answer.hash_name) }),
      el("dt", { text: t("tx.block") }), el("dd", {}, link("/blocks/" + answer.height, String(answer.height))),
      el("dt", { text: t("proof.block_hash") }), el("dd", { className: "mono", text: String(answer.block_hash) }),
      ...checkRow("proof-header", "proof.header", result.header, [computed(result.header, "computed_hash", "expected_hash")]),
      ...checkRow("proof-transaction", "proof.transaction", result.transaction,
        [computed(result.transaction, "computed_root", "expected_root")]),
      ...checkRow("proof-receipt", "proof.receipt", result.receipt, [
        computed(result.receipt, "computed_root", "expected_root"),
        decoded ? t("proof.receipt_decoded", { status: t("receipt.status." + decoded.status), gas: formatNumber(decoded.gas_used) }) : null,
      ]));
    box.replaceChildren(
      el("p", { id: "proof-verdict", className: result.ok ? "recorded" : "not-recorded", "data-verified": String(result.ok),
        text: result.ok ? t("proof.verified", { height: answer.height }) : t("proof.failed") }),
      list, headerSection(answer));
  }

  // The header itself: its commit certificate's signatures, checked here against the validator set (sigverify.js).
  function headerSection(answer) {
    let result;
    try {
      result = GusuSig.checkCommitCertificate(answer);
    } catch (error) {
      const failed = { ok: false, error: String(error), code: "proof_incomplete" };
      result = { ok: false, validators: failed, block: failed, quorum: failed, signatures: failed, elapsed_ms: 0 };
    }
    const { validators, block, quorum, signatures } = result;
    const computed = (part) => part.computed_hash === undefined ? null :
      t("proof.computed", { computed: part.computed_hash, expected: part.expected_hash });
    const signers = (signatures.results || []).map((item) =>
      t(item.ok ? "proof.signature_valid" : "proof.signature_invalid", { name: item.name, address: item.validator }));
    const list = el("dl", { className: "fields" },
      el("dt", { text: t("proof.suite") }), el("dd", { text: t(answer.suite === "ecdsa" ? "proof.suite_ecdsa" : "proof.suite_sm") }),
      ...checkRow("proof-validators", "proof.validators", validators, [computed(validators),
        validators.count ? t("proof.validators_count", { count: formatNumber(validators.count), power: formatNumber(validators.total_power) }) : null]),
      ...checkRow("proof-certificate", "proof.certificate", block, [block.block_hash === undefined ? null :
        t("proof.certificate_for", { height: block.height, round: block.round, hash: block.block_hash })]),
      ...checkRow("proof-quorum", "proof.quorum", quorum, [quorum.power === undefined ? null :
        t("proof.quorum_power", { power: formatNumber(quorum.power), total: formatNumber(quorum.total_power),
          needed: formatNumber(quorum.quorum_power), signers: formatNumber(quorum.signers) })]),
      ...checkRow("proof-signatures", "proof.signatures", signatures, signers));
    const height = answer.header && answer.header.height;
    const verdict = el("p", { id: "header-verdict", className: result.ok ? "recorded" : "not-recorded",
      "data-verified": String(result.ok), "data-elapsed-ms": String(result.elapsed_ms),
      text: result.ok ? t("proof.header_verified", { height, power: formatNumber(quorum.power), total: formatNumber(quorum.total_power) })
        : t("proof.header_not_verified") });
    // Only a set that is the one the header names roots the verdict; another one is reported above, not shown as trusted.
    const trust = !validators.ok ? null : el("p", { id: "proof-trust", className: "hint",
      text: t("proof.trust", { hash: validators.computed_hash }) });
    const members = (validators.members || []).map((member) =>
      [member.name, el("span", { className: "mono", text: member.address }), formatNumber(member.power)]);
    return el("section", { id: "proof-header-check" }, el("h3", { text: t("proof.header_title") }), verdict, list,
      members.length ? table(["proof.member_name", "proof.member_address", "proof.member_power"], members) : null, trust,
      el("p", { className: "hint", id: "proof-elapsed", text: t("proof.elapsed", { ms: result.elapsed_ms.toFixed(0) }) }));
  }

  // A committed transaction's proofs: fetched from the console, checked here. The proof as received is
  // shown in an editable box, so anyone can alter it and see the check fail.
  async function proofSection(id) {
    const box = el("div", { id: "proof-result", "aria-live": "polite" }, el("p", { text: t("proof.checking") }));
    const section = el("section", { id: "proof" }, el("h2", { text: t("proof.title") }), box);
    let answer;
    try {
      answer = await api("/api/transactions/" + encodeURIComponent(id) + "/proof");
    } catch (error) {
      box.replaceChildren(el("p", { className: "error", text: errorText(error) }));
      return section;
    }
    renderProofResult(box, answer);
    const editor = el("textarea", { id: "proof-json", className: "mono", rows: "12", spellcheck: "false" });
    editor.value = JSON.stringify(answer, null, 1);
    const recheck = el("button", { type: "button", id: "proof-recheck", text: t("proof.recheck") });
    recheck.addEventListener("click", () => {
      let edited;
      try {
        edited = JSON.parse(editor.value);
      } catch (error) {
        box.replaceChildren(el("p", { id: "proof-verdict", className: "not-recorded", "data-verified": "false",
          text: t("proof.not_json") }));
        return;
      }
      renderProofResult(box, edited);
    });
    section.append(
      el("details", { className: "proof-edit" }, el("summary", { text: t("proof.edit") }), editor, el("div", {}, recheck)),
      el("p", { className: "hint", text: t("proof.scope") }));
    return section;
  }

  async function transaction(id) {
    const found = await api("/api/transactions/" + encodeURIComponent(id));
    const tx = found.transaction;
    const rows = [
      ["tx.id", el("span", { className: "mono", text: found.id })],
      ["tx.status", el("span", { className: "status-" + found.status, id: "tx-status", text: t("tx.status." + found.status) })],
    ];
    if (found.height !== undefined) {
      rows.push(["tx.block", link("/blocks/" + found.height, String(found.height))], ["tx.index", String(found.index)]);
    }
    if (found.reason) rows.push(["tx.reason", found.reason]);
    if (tx && tx.kind === "ethereum") {
      rows.push(
        ["tx.kind", t("tx.kind_ethereum", { type: tx.type })],
        ["tx.sender", link("/accounts/" + tx.sender, tx.sender)],
        ["tx.to", tx.to === null ? t("tx.ethereum_create") : el("span", { className: "mono", text: tx.to })],
        ["tx.value", tx.value], ["tx.nonce", String(tx.nonce)], ["tx.gas_limit", formatNumber(tx.gas_limit)],
        ["tx.data", el("pre", { className: "mono", text: tx.data })]);
    } else if (tx) {
      rows.push(
        ["tx.sender", link("/accounts/" + tx.sender, tx.sender)],
        ["tx.contract", tx.contract], ["tx.method", tx.method],
        ["tx.args", el("pre", { className: "mono", text: formatValue(tx.args) })],
        ["tx.nonce", String(tx.nonce)], ["tx.valid_until", String(tx.valid_until_height)]);
    }
    const parts = [el("h1", { text: t("tx.title") }), fields(rows), el("h2", { text: t("receipt.title") })];
    const receipt = found.receipt;
    if (!receipt) {
      parts.push(el("p", { text: t("receipt.none") }));
    } else {
      const receiptRows = [
        ["receipt.status", el("span", { className: "status-" + receipt.status, id: "receipt-status",
          text: t("receipt.status." + receipt.status) })],
        ["receipt.gas_used", formatNumber(receipt.gas_used)],
        ["receipt.return_value", el("pre", { className: "mono", text: formatValue(receipt.return_value) })],
      ];
      if (receipt.error_code) receiptRows.push(["receipt.error", `${receipt.error_code}: ${receipt.error_message}`]);
      parts.push(fields(receiptRows), el("h2", { text: t("receipt.events") }),
        table(["event.contract", "event.name", "event.data"], receipt.events.map((event) => [
          event.contract, event.name, el("pre", { className: "mono", text: formatValue(event.data) })])));
    }
    main.replaceChildren(...parts);
    if (found.status === "committed") main.append(await proofSection(found.id));
  }

  async function account(address) {
    const query = new URLSearchParams(location.search);
    let path = "/api/accounts/" + encodeURIComponent(address);
    if (query.get("before_height") !== null) {
      path += "?before_height=" + encodeURIComponent(query.get("before_height")) +
        "&before_index=" + encodeURIComponent(query.get("before_index") || "");
    }
    const found = await api(path);
    const parts = [
      el("h1", { text: t("account.title") }),
      fields([
        ["account.address", el("span", { className: "mono", text: found.address })],
        ["account.balance", el("span", { id: "balance", text: formatNumber(found.balance) })],
      ]),
      el("h2", { text: t("account.history") }),
    ];
    if (found.transactions.length === 0) parts.push(el("p", { text: t("account.history_empty") }));
    else parts.push(table(TRANSACTION_HEADERS, transactionRows(found.transactions)));
    if (found.next) {
      parts.push(el("div", { className: "pager" }, link(
        `/accounts/${found.address}?before_height=${found.next.height}&before_index=${found.next.index}`,
        t("account.older"), "pager-older")));
    }
    main.replaceChildren(...parts);
  }

  function searchNotFound(query) {
    main.replaceChildren(el("h1", { text: t("search.label") }),
      el("p", { className: "error", id: "search-not-found", text: t("search.not_found", { query }) }));
  }

  // --- public verification --------------------------------------------------------------
  async function hashFile(file, hashName, progress) {
    const hasher = GusuHash.create(hashName);
    for (let offset = 0; offset < file.size; offset += HASH_CHUNK_BYTES) {
      const chunk = new Uint8Array(await file.slice(offset, offset + HASH_CHUNK_BYTES).arrayBuffer());
      hasher.update(chunk);
      progress(Math.floor(((offset + chunk.length) * 100) / file.size));
    }
    return "0x" + GusuHash.toHex(hasher.digest());
  }

  // Look up a transaction by id on the public page and check its proofs here.
  function lookupTransaction() {
    const box = el("input", { id: "verify-tx-id", name: "transaction", className: "mono", maxlength: "66", size: "70",
      placeholder: "0x…", autocomplete: "off", spellcheck: "false" });
    const found = el("div", { id: "verify-tx-result", "aria-live": "polite" });
    const form = el("form", { id: "verify-tx-form", className: "inline" },
      el("label", { for: "verify-tx-id", text: t("verify.lookup_label") }), box,
      el("button", { type: "submit", id: "verify-tx-submit", text: t("verify.lookup_button") }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const id = box.value.trim();
      if (!/^0[xX][0-9a-fA-F]{64}$/.test(id)) {
        found.replaceChildren(el("p", { className: "error", id: "verify-tx-error", text: t("verify.lookup_invalid") }));
        return;
      }
      found.replaceChildren(el("p", { text: t("proof.checking") }));
      let record;
      try {
        record = await api("/api/transactions/" + id.toLowerCase());
      } catch (error) {
        found.replaceChildren(el("p", { className: "error", id: "verify-tx-error",
          text: error.code === "not_found" ? t("verify.lookup_not_found") : errorText(error) }));
        return;
      }
      const rows = [
        ["tx.id", link("/transactions/" + record.id, record.id)],
        ["tx.status", el("span", { className: "status-" + record.status, id: "verify-tx-status", text: t("tx.status." + record.status) })],
      ];
      if (record.transaction) rows.push(["tx.method", `${record.transaction.contract}.${record.transaction.method}`]);
      if (record.receipt) rows.push(["receipt.status", t("receipt.status." + record.receipt.status)]);
      found.replaceChildren(fields(rows));
      if (record.status === "committed") found.append(await proofSection(record.id));
      else found.append(el("p", { text: t("proof.unavailable") }));
    });
    return el("section", { id: "verify-transaction" },
      el("h2", { text: t("verify.lookup_title") }), el("p", { text: t("verify.lookup_intro") }), form, found);
  }

  async function verify() {
    const status = await api("/api/status");
    const limit = Number(main.dataset.fileBytesMax);
    const input = el("input", { type: "file", id: "verify-file" });
    const result = el("div", { id: "verify-result", "aria-live": "polite" });
    main.replaceChildren(
      el("h1", { text: t("verify.title") }),
      el("p", { text: t("verify.intro") }),
      el("div", { className: "drop" }, el("label", { for: "verify-file", text: t("verify.choose") + " " }), input),
      result,
      lookupTransaction());
    input.addEventListener("change", async () => {
      const file = input.files && input.files[0];
      if (!file) return;
      if (file.size > limit) {
        result.replaceChildren(el("p", { className: "error", text: t("verify.too_large", { limit: formatNumber(limit) }) }));
        return;
      }
      const progress = el("p", { text: t("verify.hashing", { percent: 0 }) });
      result.replaceChildren(progress);
      let digest;
      try {
        digest = await hashFile(file, status.hash_name, (percent) => {
          progress.textContent = t("verify.hashing", { percent });
        });
      } catch (error) {
        result.replaceChildren(el("p", { className: "error", text: t("verify.read_failed") }));
        return;
      }
      const rows = [
        ["verify.algorithm", status.hash_name],
        ["verify.hash", el("span", { className: "mono", id: "verify-hash", text: digest })],
      ];
      try {
        const record = await api("/api/evidence/" + digest);
        if (record.recorded) {
          rows.push(
            ["verify.submitter", link("/accounts/" + record.submitter, record.submitter)],
            ["verify.height", link("/blocks/" + record.height, String(record.height))],
            ["verify.time", formatTime(record.timestamp_ms)],
            ["verify.metadata", record.metadata]);
        }
        result.replaceChildren(
          el("p", { id: "verify-verdict", className: record.recorded ? "recorded" : "not-recorded",
            "data-recorded": String(record.recorded), text: t(record.recorded ? "verify.recorded" : "verify.not_recorded") }),
          fields(rows));
      } catch (error) {
        result.replaceChildren(fields(rows), el("p", { className: "error", text: errorText(error) }));
      }
    });
  }

  const pages = {
    dashboard,
    explorer,
    block,
    transaction,
    account,
    verify,
    search: async (query) => searchNotFound(query),
  };

  const run = pages[main.dataset.page];
  if (run) {
    Promise.resolve(run(main.dataset.argument)).then(markReady, showError);
  }
})();

// Pages rendered by the server that wait on a background operation (a chain being created, started
// or stopped) mark it with data-refresh-s: reload until it is done.
(() => {
  const marker = document.querySelector("[data-refresh-s]");
  if (marker) {
    const seconds = Math.min(60, Math.max(1, Number(marker.dataset.refreshS) || 2));
    setTimeout(() => window.location.reload(), seconds * 1000);
  }
})();
