// Dashboard: totals, requests/errors and tokens per hour, and usage by account × model.
import { api } from "../api.js";
import { barChart, legend, lineChart } from "../charts.js";
import { el, fmtCompact, fmtInt, toast } from "../util.js";

let timer = 0;
let hours = 24;

export async function mount(root) {
  const range = el(
    "select",
    { id: "dash-hours", "aria-label": "Time range", onchange: (e) => { hours = Number(e.target.value); refresh(body); } },
    [6, 24, 72, 168].map((h) => el("option", { value: h, selected: h === hours }, h < 48 ? `last ${h} h` : `last ${h / 24} days`)),
  );
  const body = el("div", { class: "stack" });
  root.append(el("div", { class: "view-head" }, el("h2", {}, "Dashboard"), range), body);
  await refresh(body);
  timer = setInterval(() => refresh(body), 10000);
}

export function unmount() {
  clearInterval(timer);
}

function hourLabels(first, count) {
  const labels = [];
  for (let i = 0; i < count; i++) {
    const d = new Date((first + i) * 3600 * 1000);
    labels.push(count > 48 ? `${d.getMonth() + 1}/${d.getDate()} ${String(d.getHours()).padStart(2, "0")}h` : `${String(d.getHours()).padStart(2, "0")}:00`);
  }
  return labels;
}

async function refresh(body) {
  let stats;
  try {
    stats = await api("GET", `/api/stats?hours=${hours}`);
  } catch (err) {
    toast(err.message, "bad");
    return;
  }
  const count = stats.hours;
  const labels = hourLabels(stats.first_hour, count);
  const byHour = new Map(stats.by_hour.map((r) => [r.hour, r]));
  const col = (name) => labels.map((_, i) => Number((byHour.get(stats.first_hour + i) || {})[name] || 0));
  const errors = col("errors");
  const ok = col("requests").map((v, i) => v - errors[i]);
  const t = stats.totals;
  const errRate = t.requests ? ((100 * t.errors) / t.requests).toFixed(1) + "%" : "—";
  const cards = el(
    "div",
    { class: "cards" },
    card("Requests", fmtInt(t.requests), "stat-requests"),
    card("Errors", `${fmtInt(t.errors)} (${errRate})`, "stat-errors"),
    card("Input tokens", fmtCompact(t.input_tokens), "stat-input"),
    card("Output tokens", fmtCompact(t.output_tokens), "stat-output"),
    card("Cached / thoughts", `${fmtCompact(t.cached_tokens)} / ${fmtCompact(t.thought_tokens)}`, "stat-cached"),
  );
  const reqSeries = [
    { name: "ok", values: ok, cls: "s-ok" },
    { name: "errors", values: errors, cls: "s-bad" },
  ];
  const tokSeries = [
    { name: "input", values: col("input_tokens"), cls: "s-in" },
    { name: "output", values: col("output_tokens"), cls: "s-out" },
  ];
  const table = el(
    "table",
    { class: "grid-table" },
    el("thead", {}, el("tr", {}, ["Account", "Model", "Requests", "Errors", "Input", "Output", "Cached", "Thoughts"].map((h) => el("th", {}, h)))),
    el(
      "tbody",
      {},
      stats.by_account_model.length
        ? stats.by_account_model.map((r) =>
            el("tr", {}, el("td", {}, r.account || "—"), el("td", {}, r.model || "—"),
              ["requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "thought_tokens"].map((k) => el("td", { class: "num" }, fmtInt(r[k])))),
          )
        : el("tr", {}, el("td", { colSpan: 8, class: "muted" }, "No requests in this period.")),
    ),
  );
  const log = stats.log;
  body.replaceChildren(
    cards,
    el("div", { class: "two-col" },
      el("section", { class: "card", id: "chart-requests" }, el("h3", {}, "Requests per hour"), barChart(labels, reqSeries, "Requests per hour"), legend(reqSeries)),
      el("section", { class: "card", id: "chart-tokens" }, el("h3", {}, "Tokens per hour"), lineChart(labels, tokSeries, "Tokens per hour"), legend(tokSeries)),
    ),
    el("section", { class: "card" }, el("h3", {}, "Usage by account and model"), el("div", { class: "table-wrap" }, table)),
    el("p", { class: "muted small" },
      `Request log: ${fmtInt(log.written)} written since start, ${log.queued} queued, ${fmtInt(log.dropped_bodies)} bodies dropped under load, ` +
      `${fmtInt(log.dropped_rows)} rows dropped; kept for ${log.retention_days} days.`),
  );
}

function card(title, value, id) {
  return el("div", { class: "card stat", id }, el("div", { class: "stat-title" }, title), el("div", { class: "stat-value" }, value));
}
