// Settings: live-reloadable keys (stored as overrides), re-reading the config file, and the effective config.
import { api } from "../api.js";
import { el, toast } from "../util.js";

const FIELDS = [
  ["scheduling", "mode", "select", ["cache_first", "balance", "performance_first"], "How accounts are picked: stick to one per conversation, spread the load, or by priority."],
  ["scheduling", "max_attempts", "number", null, "Attempts per request, each on another account where rotation makes sense."],
  ["scheduling", "max_wait_seconds", "number", null, "cache_first: longest wait for a sticky account to free up."],
  ["monitor", "enabled", "checkbox", null, "Write the request log."],
  ["monitor", "capture_bodies", "checkbox", null, "Keep request and response bodies (capped, secrets redacted)."],
  ["monitor", "body_cap_kb", "number", null, "Largest body kept, in KiB."],
  ["monitor", "retention_days", "number", null, "Log rows older than this are deleted."],
  ["monitor", "max_log_mb", "number", null, "Past this size (MB) the oldest log rows are deleted; 0 for no cap."],
  ["proxy", "expose_account_header", "checkbox", null, "Send X-Account-Email to clients."],
];

export async function mount(root) {
  const box = el("div", { class: "stack" });
  root.append(el("div", { class: "view-head" }, el("h2", {}, "Settings")), box);
  await render(box);
}

async function render(box) {
  let data;
  try {
    data = await api("GET", "/api/config");
  } catch (err) {
    toast(err.message, "bad");
    return;
  }
  const inputs = [];
  const rows = FIELDS.map(([section, key, type, choices, help]) => {
    const value = data.config[section][key];
    const id = `cfg-${section}-${key}`;
    let input;
    if (type === "select") input = el("select", { id }, choices.map((c) => el("option", { value: c, selected: c === value }, c)));
    else if (type === "checkbox") input = el("input", { id, type: "checkbox", checked: Boolean(value) });
    else input = el("input", { id, type: "number", min: 0, step: "any", value: String(value) });
    inputs.push([section, key, type, input]);
    const overridden = data.overrides[section] && key in data.overrides[section];
    return el("div", { class: "field" },
      el("label", { htmlFor: id }, `${section}.${key}`, overridden ? el("span", { class: "badge muted" }, "overridden") : null),
      input, el("p", { class: "muted small" }, help));
  });
  const save = async (e) => {
    e.preventDefault();
    const patch = {};
    for (const [section, key, type, input] of inputs) {
      const value = type === "checkbox" ? input.checked : type === "number" ? Number(input.value) : input.value;
      if (value !== data.config[section][key]) (patch[section] ||= {})[key] = value;
    }
    if (!Object.keys(patch).length) { toast("Nothing changed."); return; }
    try {
      await api("PATCH", "/api/config", patch);
      toast("Saved; applied without restart.", "ok");
      await render(box);
    } catch (err) {
      toast(err.message, "bad");
    }
  };
  const reset = async () => {
    try { await api("DELETE", "/api/config/overrides"); toast("Overrides removed; the config file applies.", "ok"); await render(box); }
    catch (err) { toast(err.message, "bad"); }
  };
  const reload = async () => {
    try {
      const res = await api("POST", "/api/config/reload");
      toast(res.restart_required.length ? `Reloaded. Needs a restart: ${res.restart_required.join(", ")}` : "Config file reloaded.", res.restart_required.length ? "warn" : "ok");
      await render(box);
    } catch (err) { toast(err.message, "bad"); }
  };
  const clearAll = async () => {
    if (!confirm("Clear every cooldown now?")) return;
    try { const res = await api("DELETE", "/api/cooldowns"); toast(`Cleared ${res.cleared.length} cooldown(s).`, "ok"); }
    catch (err) { toast(err.message, "bad"); }
  };
  box.replaceChildren(
    el("form", { id: "settings-form", class: "card settings", onsubmit: save },
      el("h3", {}, "Live settings"),
      el("p", { class: "muted small" }, "These apply at once, are stored in the database (so they survive a restart and reach every instance sharing it) and win over the config file."),
      rows,
      el("div", { class: "actions" },
        el("button", { type: "submit", class: "primary", id: "settings-save" }, "Save"),
        el("button", { type: "button", onclick: reset }, "Remove overrides"),
        data.can_reload_file ? el("button", { type: "button", onclick: reload, id: "config-reload" }, "Re-read config file") : null)),
    el("section", { class: "card" }, el("h3", {}, "Cooldowns"), el("button", { type: "button", onclick: clearAll, id: "clear-all-cooldowns" }, "Clear all cooldowns")),
    el("section", { class: "card" }, el("h3", {}, "Effective configuration"),
      el("p", { class: "muted small" }, "Keys not listed above need a restart: ports and auth (proxy.*), upstream.*, store.*, scheduling.tier_order and extra_rules."),
      el("pre", { class: "body", id: "config-json" }, JSON.stringify(data.config, null, 2))),
  );
}
