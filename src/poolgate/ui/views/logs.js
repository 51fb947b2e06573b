// Request log: filters, paging, a live feed over SSE and a detail panel with the captured bodies.
import { api, streamEvents } from "../api.js";
import { el, fmtDateTime, fmtInt, fmtTime, statusClass, toast } from "../util.js";

const PAGE = 50;
let state = { offset: 0, live: true };
let controller = null;

export async function mount(root) {
  state = { offset: 0, live: true };
  const q = el("input", { id: "log-search", type: "search", placeholder: "Search route, model, account, error" });
  const status = el("select", { id: "log-status", "aria-label": "Status" }, [["", "any status"], ["2xx", "2xx"], ["4xx", "4xx"], ["5xx", "5xx"], ["429", "429"]].map(([v, t]) => el("option", { value: v }, t)));
  const errors = el("input", { id: "log-errors", type: "checkbox" });
  const live = el("input", { id: "log-live", type: "checkbox", checked: true });
  const tbody = el("tbody", { id: "log-rows" });
  const pager = el("div", { class: "pager" });
  const detail = el("aside", { id: "log-detail", class: "card detail", hidden: true });
  const filters = () => ({ q: q.value.trim(), status: status.value, errors: errors.checked });
  const reload = () => load(tbody, pager, detail, filters());
  let debounce = 0;
  q.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(() => { state.offset = 0; reload(); }, 300); });
  status.addEventListener("change", () => { state.offset = 0; reload(); });
  errors.addEventListener("change", () => { state.offset = 0; reload(); });
  live.addEventListener("change", () => { state.live = live.checked; if (state.live) connect(tbody, detail, filters); else disconnect(); });
  root.append(
    el("div", { class: "view-head" }, el("h2", {}, "Request log"), el("span", { id: "live-state", class: "badge muted" }, "connecting")),
    el("form", { class: "filters card", onsubmit: (e) => { e.preventDefault(); state.offset = 0; reload(); } },
      q, status, el("label", { class: "check" }, errors, " errors only"), el("label", { class: "check" }, live, " live")),
    el("div", { class: "log-layout" },
      el("section", { class: "card" }, el("div", { class: "table-wrap" },
        el("table", { class: "grid-table log-table" },
          el("thead", {}, el("tr", {}, ["Time", "Status", "Route", "Model", "Mapped", "Account", "Duration", "Tokens", "Error"].map((h, i) => el("th", { class: `c${i}` }, h)))),
          tbody)), pager),
      detail),
  );
  await reload();
  connect(tbody, detail, filters);
}

export function unmount() {
  disconnect();
}

function disconnect() {
  if (controller) controller.abort();
  controller = null;
  const badge = document.getElementById("live-state");
  if (badge) { badge.textContent = "paused"; badge.className = "badge muted"; }
}

function matches(row, f) {
  if (f.errors && !(row.status >= 400 || row.error)) return false;
  if (f.status) {
    if (/^\dxx$/.test(f.status) && Math.floor(row.status / 100) !== Number(f.status[0])) return false;
    if (/^\d+$/.test(f.status) && row.status !== Number(f.status)) return false;
  }
  if (f.q) {
    const hay = [row.route, row.client_model, row.mapped_model, row.account, row.error].join(" ").toLowerCase();
    if (!hay.includes(f.q.toLowerCase())) return false;
  }
  return true;
}

function connect(tbody, detail, filters) {
  disconnect();
  controller = new AbortController();
  const badge = document.getElementById("live-state");
  badge.textContent = "live";
  badge.className = "badge ok";
  const mine = controller;
  streamEvents("/api/logs/stream", (row) => {
    if (state.offset !== 0 || !matches(row, filters())) return;
    tbody.querySelector(".empty")?.remove();
    const tr = logRow(row, detail);
    tr.classList.add("fresh");
    tbody.prepend(tr);
    while (tbody.children.length > PAGE) tbody.lastElementChild.remove();
  }, mine.signal).catch(() => {
    if (mine.signal.aborted) return;
    badge.textContent = "disconnected — retrying";
    badge.className = "badge warn";
    setTimeout(() => { if (controller === mine && state.live) connect(tbody, detail, filters); }, 2000);
  });
}

async function load(tbody, pager, detail, f) {
  const params = new URLSearchParams({ limit: PAGE, offset: state.offset });
  if (f.q) params.set("q", f.q);
  if (f.status) params.set("status", f.status);
  if (f.errors) params.set("errors", "1");
  let data;
  try {
    data = await api("GET", `/api/logs?${params}`);
  } catch (err) {
    toast(err.message, "bad");
    return;
  }
  tbody.replaceChildren(...(data.items.length ? data.items.map((r) => logRow(r, detail)) : [el("tr", { class: "empty" }, el("td", { colSpan: 9, class: "muted" }, "No requests match."))]));
  const last = Math.min(data.total, data.offset + data.items.length);
  pager.replaceChildren(
    el("button", { type: "button", id: "log-prev", disabled: data.offset === 0, onclick: () => { state.offset = Math.max(0, state.offset - PAGE); load(tbody, pager, detail, f); } }, "← Newer"),
    el("span", { class: "muted small", id: "log-range" }, data.total ? `${data.offset + 1}–${last} of ${fmtInt(data.total)}` : "0 requests"),
    el("button", { type: "button", id: "log-next", disabled: last >= data.total, onclick: () => { state.offset += PAGE; load(tbody, pager, detail, f); } }, "Older →"),
  );
}

function logRow(r, detail) {
  return el(
    "tr",
    { class: "log-row", dataset: { id: r.id }, tabIndex: 0, onclick: () => showDetail(r.id, detail), onkeydown: (e) => { if (e.key === "Enter") showDetail(r.id, detail); } },
    el("td", { class: "c0", title: fmtDateTime(r.ts) }, fmtTime(r.ts)),
    el("td", { class: "c1" }, el("span", { class: `badge ${statusClass(r.status)}` }, String(r.status))),
    el("td", { class: "c2 mono" }, r.route),
    el("td", { class: "c3 mono" }, r.client_model || "—"),
    el("td", { class: "c4 mono mapped" }, r.mapped_model || "—"),
    el("td", { class: "c5 acct" }, r.account || "—"),
    el("td", { class: "c6 num" }, `${Math.round(r.duration_ms)} ms`),
    el("td", { class: "c7 num" }, `${fmtInt(r.input_tokens)} / ${fmtInt(r.output_tokens)}`),
    el("td", { class: "c8 error-cell" }, (r.error || "").slice(0, 120)),
  );
}

async function showDetail(id, detail) {
  let r;
  try {
    r = await api("GET", `/api/logs/${encodeURIComponent(id)}`);
  } catch (err) {
    toast(err.message, "bad");
    return;
  }
  const field = (name, value) => [el("dt", {}, name), el("dd", {}, value === "" || value === null || value === undefined ? "—" : String(value))];
  const body = (title, text) => el("details", { open: true }, el("summary", {}, title), el("pre", { class: "body" }, pretty(text)));
  detail.replaceChildren(
    el("div", { class: "view-head" }, el("h3", {}, "Request detail"), el("button", { type: "button", class: "ghost", onclick: () => (detail.hidden = true) }, "Close")),
    el("dl", { class: "kv" },
      field("Id", r.id), field("Time", fmtDateTime(r.ts)), field("Route", `${r.method} ${r.route}`), field("Protocol", r.protocol),
      field("Status", r.status), field("Client model", r.client_model), field("Mapped model", r.mapped_model),
      field("Account", r.account), field("Attempts", r.attempts), field("Stream", r.stream ? "yes" : "no"),
      field("Duration", `${r.duration_ms} ms`), field("Gateway overhead", `${r.overhead_ms} ms`),
      field("Tokens in / out", `${r.input_tokens} / ${r.output_tokens}`), field("Cached / thoughts", `${r.cached_tokens} / ${r.thought_tokens}`),
      field("Client", `${r.client_ip} ${r.user_agent}`), field("Error", r.error), field("Failed attempts", r.failed_attempts)),
    body("Request body", r.request_body),
    body("Response body", r.response_body),
  );
  detail.hidden = false;
  detail.scrollIntoView({ block: "nearest" });
}

function pretty(text) {
  if (text === null || text === undefined) return "(not captured)";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
