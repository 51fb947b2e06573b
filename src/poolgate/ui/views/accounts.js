// Accounts: state, why, cooldown countdowns, quota bars, last error, actions; add a key; Google sign-in.
import { api } from "../api.js";
import { el, fmtAgo, fmtCountdown, tickCountdowns, toast } from "../util.js";

let timer = 0;

export async function mount(root) {
  const list = el("div", { id: "account-list", class: "account-list" });
  root.append(
    el("div", { class: "view-head" }, el("h2", {}, "Accounts"), el("span", { id: "usable-count", class: "muted" })),
    addForms(list),
    list,
  );
  await refresh(list);
  timer = setInterval(() => refresh(list), 5000);
}

export function unmount() {
  clearInterval(timer);
  clearInterval(watching);
}

function addForms(list) {
  const keyInput = el("input", { id: "new-key", name: "key", type: "password", placeholder: "Gemini API key (AIza…)", autocomplete: "off", required: true });
  const labelInput = el("input", { id: "new-label", name: "label", placeholder: "Label (optional)" });
  const keyForm = el(
    "form",
    {
      id: "add-key-form",
      class: "card inline-form",
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          const acc = await api("POST", "/api/accounts", { key: keyInput.value, label: labelInput.value });
          keyInput.value = "";
          labelInput.value = "";
          toast(`Added ${acc.name}.`, "ok");
          await refresh(list);
        } catch (err) {
          toast(err.message, "bad");
        }
      },
    },
    el("h3", {}, "Add an API key"),
    keyInput,
    labelInput,
    el("button", { type: "submit", class: "primary", id: "add-key-button" }, "Add key"),
  );
  const token = el("input", { id: "import-token", type: "password", placeholder: "or paste a refresh token (1//…)", autocomplete: "off" });
  const importToken = async () => {
    if (!token.value.trim()) return;
    try {
      const res = await api("POST", "/api/accounts/oauth/import", { refresh_token: token.value.trim() });
      token.value = "";
      toast(`Imported ${(res.account && res.account.email) || "the account"}.`, "ok");
      await refresh(list);
    } catch (err) {
      toast(err.status === 404 ? "Google accounts are not available in this gateway build." : err.message, "bad");
    }
  };
  const oauth = el("div", { class: "card inline-form", id: "oauth-box" },
    el("h3", {}, "Add a Google account"),
    el("button", { type: "button", id: "oauth-start", onclick: () => startOAuth(oauth, list) }, "Sign in with Google"),
    token,
    el("button", { type: "button", id: "import-token-button", onclick: importToken }, "Import"));
  return el("div", { class: "two-col" }, keyForm, oauth);
}

async function startOAuth(box, list) {
  let started;
  try {
    started = await api("POST", "/api/accounts/oauth/start", {});
  } catch (err) {
    toast(err.status === 404 ? "Google sign-in is not available in this gateway build." : err.message, "bad");
    return;
  }
  const url = started.auth_url || started.url || started.authorization_url;
  const state = started.state || "";
  if (url) window.open(url, "_blank", "noopener");
  watchForNewAccount(list);
  const pasted = el("input", { id: "oauth-code", placeholder: "Paste the code or the URL you were sent to" });
  const form = el(
    "form",
    {
      class: "stack",
      onsubmit: async (e) => {
        e.preventDefault();
        const value = pasted.value.trim();
        let code = value;
        let gotState = state;
        try {
          const u = new URL(value);
          code = u.searchParams.get("code") || value;
          gotState = u.searchParams.get("state") || state;
        } catch {
          /* a bare code */
        }
        try {
          const res = await api("POST", "/api/accounts/oauth/complete", { state: gotState, code, redirect_url: value });
          const acc = res.account || res;
          toast(`Signed in ${acc.email || acc.label || "the account"}.`, "ok");
          box.querySelector("form")?.remove();
          await refresh(list);
        } catch (err) {
          toast(err.message, "bad");
        }
      },
    },
    el("p", { class: "muted small" }, "Finish signing in in the new tab. If this gateway is remote and the tab shows an error page, paste its address here."),
    url ? el("a", { href: url, target: "_blank", rel: "noopener" }, "Open the Google sign-in page again") : null,
    pasted,
    el("button", { type: "submit" }, "Finish sign-in"),
  );
  box.querySelector("form")?.remove();
  box.append(form);
}

// While a Google sign-in is pending in another tab, look for the new account every 1.5 s (for 3 minutes).
let watching = 0;
function watchForNewAccount(list) {
  clearInterval(watching);
  const before = list.querySelectorAll("article.account").length;
  const until = Date.now() + 180000;
  watching = setInterval(async () => {
    if (!list.isConnected || Date.now() > until) return clearInterval(watching);
    await refresh(list);
    if (list.querySelectorAll("article.account").length > before) {
      clearInterval(watching);
      document.querySelector("#oauth-box form")?.remove();
      toast("Google account added.", "ok");
    }
  }, 1500);
}

async function refresh(list) {
  let data;
  try {
    data = await api("GET", "/api/accounts");
  } catch (err) {
    toast(err.message, "bad");
    return;
  }
  const count = document.getElementById("usable-count");
  if (count) count.textContent = `${data.usable} usable of ${data.accounts.length}`;
  list.replaceChildren(
    ...(data.accounts.length
      ? data.accounts.map((a) => accountCard(a, list))
      : [el("p", { class: "muted" }, "No accounts yet. Add a Gemini API key or sign in with Google above.")]),
  );
  tickCountdowns();
}

function stateBadge(a) {
  const cls = { active: "ok", cooling: "warn", disabled: "muted", needs_relogin: "bad", forbidden: "bad", invalid: "bad" }[a.state] || "warn";
  return el("span", { class: `badge ${cls}`, dataset: { state: a.state } }, a.state_label.replace("_", " "));
}

function quotaBars(quota) {
  const entries = Object.entries(quota || {}).filter(([, v]) => typeof v.remaining_fraction === "number");
  if (!entries.length) return el("p", { class: "muted small" }, "Quota: not reported.");
  return el(
    "div",
    { class: "quota" },
    entries.slice(0, 8).map(([model, info]) => {
      const pct = Math.round(info.remaining_fraction * 100);
      const fill = el("div", { class: `quota-fill ${pct < 20 ? "bad" : pct < 50 ? "warn" : "ok"}` });
      fill.style.width = `${pct}%`;
      return el("div", { class: "quota-row" }, el("span", { class: "quota-model" }, model), el("div", { class: "quota-bar", title: `${pct}% left` }, fill), el("span", { class: "num" }, `${pct}%`));
    }),
  );
}

function accountCard(a, list) {
  const act = (label, fn, cls = "") => el("button", { type: "button", class: cls, dataset: { action: label.toLowerCase().replace(/\s+/g, "-") }, onclick: fn }, label);
  const run = (method, path, confirmText) => async () => {
    if (confirmText && !confirm(confirmText)) return;
    try {
      const res = await api(method, path);
      if (res && res.refreshed === false) toast(res.error, "bad");
      else toast("Done.", "ok");
    } catch (err) {
      toast(err.message, "bad");
    }
    await refresh(list);
  };
  const base = `/api/accounts/${encodeURIComponent(a.id)}`;
  const cooling = a.cooldowns.filter((c) => c.until > Date.now() / 1000);
  return el(
    "article",
    { class: "card account", dataset: { id: a.id, name: a.name } },
    el("div", { class: "account-head" },
      el("div", {}, el("strong", { class: "account-name" }, a.name), el("span", { class: "muted small" }, ` ${a.kind === "api_key" ? "API key" : "Google"} · ${a.secret}${a.tier ? " · " + a.tier : ""}${a.proxy ? " · via " + a.proxy : ""}`)),
      stateBadge(a)),
    a.why && a.state !== "cooling" ? el("p", { class: "why small" }, a.why) : null,
    cooling.length
      ? el("ul", { class: "cooldowns" }, cooling.map((c) =>
          el("li", {}, `Cooling${c.model ? " for " + c.model : ""} (${c.kind}): `,
            el("span", { class: "countdown", dataset: { until: c.until } }, fmtCountdown(c.until - Date.now() / 1000)),
            c.reason ? el("span", { class: "muted small" }, ` — ${c.reason}`) : null)))
      : null,
    quotaBars(a.quota),
    el("p", { class: "small muted" }, `Last used ${fmtAgo(a.last_used_at)}`,
      a.last_error ? el("span", { class: "last-error" }, ` · last error ${fmtAgo(a.last_error.ts)}: ${a.last_error.status} ${a.last_error.error.slice(0, 160)}`) : null),
    el("div", { class: "actions" },
      a.enabled ? act("Disable", run("POST", `${base}/disable`)) : act("Enable", run("POST", `${base}/enable`), "primary"),
      act("Refresh", run("POST", `${base}/refresh`)),
      cooling.length ? act("Clear cooldown", run("DELETE", `/api/cooldowns?account=${encodeURIComponent(a.id)}`)) : null,
      act("Remove", run("DELETE", base, `Remove ${a.name}? Its secrets are deleted.`), "danger")),
  );
}
