// Model-mapping editor: rules from the store (editable) and the config file (read-only), plus a resolver probe.
import { api } from "../api.js";
import { el, toast } from "../util.js";

export async function mount(root) {
  const tbody = el("tbody", { id: "mapping-rows" });
  const pattern = el("input", { id: "map-pattern", placeholder: "client model or pattern, e.g. gpt-4o or claude-*", required: true });
  const model = el("input", { id: "map-model", placeholder: "upstream model, e.g. gemini-2.5-pro", required: true, list: "known-models" });
  const form = el(
    "form",
    {
      id: "mapping-form",
      class: "card inline-form",
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          await api("PUT", "/api/mapping", { pattern: pattern.value, model: model.value });
          toast(`${pattern.value.trim()} → ${model.value.trim()}`, "ok");
          pattern.value = "";
          model.value = "";
          await refresh(tbody);
        } catch (err) {
          toast(err.message, "bad");
        }
      },
    },
    el("h3", {}, "Add or change a rule"),
    pattern,
    model,
    el("button", { type: "submit", class: "primary", id: "map-save" }, "Save rule"),
    el("datalist", { id: "known-models" }, ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-3-pro-preview", "gemini-3-flash"].map((m) => el("option", { value: m }))),
  );
  const probe = el("input", { id: "probe-model", placeholder: "try a client model name" });
  const probeOut = el("span", { id: "probe-result", class: "muted" });
  const probeForm = el(
    "form",
    {
      class: "card inline-form",
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          const res = await api("GET", `/api/mapping?resolve=${encodeURIComponent(probe.value)}`);
          const r = res.resolved;
          probeOut.textContent = r ? `${r.client_model} → ${r.model} (${r.rule}${r.pattern ? ": " + r.pattern : ""})` : "";
        } catch (err) {
          toast(err.message, "bad");
        }
      },
    },
    el("h3", {}, "Where does a model go?"),
    probe,
    el("button", { type: "submit" }, "Resolve"),
    probeOut,
  );
  root.append(
    el("div", { class: "view-head" }, el("h2", {}, "Model mapping")),
    el("p", { class: "muted small" }, "Exact names win over wildcards; among wildcards the most specific pattern wins; then the built-in table; otherwise the name passes through unchanged. Changes apply to the next request."),
    el("div", { class: "two-col" }, form, probeForm),
    el("section", { class: "card" }, el("div", { class: "table-wrap" },
      el("table", { class: "grid-table" }, el("thead", {}, el("tr", {}, ["Pattern", "Upstream model", "Source", ""].map((h) => el("th", {}, h)))), tbody))),
  );
  await refresh(tbody);
}

async function refresh(tbody) {
  let data;
  try {
    data = await api("GET", "/api/mapping");
  } catch (err) {
    toast(err.message, "bad");
    return;
  }
  if (!data.rules.length) {
    tbody.replaceChildren(el("tr", {}, el("td", { colSpan: 4, class: "muted" }, "No custom rules; the built-in table applies.")));
    return;
  }
  tbody.replaceChildren(...data.rules.map((r) => row(r, tbody)));
}

function row(rule, tbody) {
  const model = el("input", { value: rule.model, class: "cell-input", "aria-label": `Model for ${rule.pattern}` });
  const save = async () => {
    try {
      await api("PUT", "/api/mapping", { pattern: rule.pattern, model: model.value });
      toast(`${rule.pattern} → ${model.value.trim()}`, "ok");
      await refresh(tbody);
    } catch (err) {
      toast(err.message, "bad");
    }
  };
  const remove = async () => {
    try {
      await api("DELETE", `/api/mapping?pattern=${encodeURIComponent(rule.pattern)}`);
      toast(`Removed ${rule.pattern}.`, "ok");
      await refresh(tbody);
    } catch (err) {
      toast(err.message, "bad");
    }
  };
  return el(
    "tr",
    { dataset: { pattern: rule.pattern } },
    el("td", { class: "mono" }, rule.pattern),
    el("td", {}, rule.source === "store" ? model : el("span", { class: "mono" }, rule.model)),
    el("td", { class: "muted" }, rule.source === "store" ? "UI / CLI" : "config file"),
    el("td", { class: "actions" }, rule.source === "store"
      ? [el("button", { type: "button", onclick: save }, "Save"), el("button", { type: "button", class: "danger", onclick: remove }, "Remove")]
      : el("button", { type: "button", onclick: save, title: "Store an override for this pattern" }, "Override")),
  );
}
