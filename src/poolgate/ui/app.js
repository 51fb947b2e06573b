// The admin UI shell: login, hash routing between views, and the one-second ticker for countdowns.
import { api, setToken, token, whenUnauthorized } from "./api.js";
import { tickCountdowns } from "./util.js";
import * as accounts from "./views/accounts.js";
import * as dashboard from "./views/dashboard.js";
import * as logs from "./views/logs.js";
import * as mapping from "./views/mapping.js";
import * as settings from "./views/settings.js";

const VIEWS = { dashboard, accounts, mapping, logs, settings };
let current = null;

function showLogin(message = "") {
  if (current && current.unmount) current.unmount();
  current = null;
  document.getElementById("shell").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message;
  document.getElementById("password").focus();
}

async function showApp() {
  document.getElementById("login").hidden = true;
  document.getElementById("shell").hidden = false;
  await route();
}

async function route() {
  const name = (location.hash || "#dashboard").slice(1).split("?")[0];
  const view = VIEWS[name] || dashboard;
  if (current && current.unmount) current.unmount();
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.view === (VIEWS[name] ? name : "dashboard"));
  }
  const main = document.getElementById("view");
  main.replaceChildren();
  main.dataset.view = VIEWS[name] ? name : "dashboard";
  current = view;
  await view.mount(main);
}

async function login(event) {
  event.preventDefault();
  const password = document.getElementById("password").value;
  setToken(password);
  try {
    await api("GET", "/api/config");
    document.getElementById("password").value = "";
    await showApp();
  } catch (err) {
    setToken("");
    showLogin(err.status === 401 ? "Wrong password." : `Cannot reach the gateway: ${err.message}`);
  }
}

function start() {
  document.getElementById("login-form").addEventListener("submit", login);
  document.getElementById("logout").addEventListener("click", () => {
    setToken("");
    showLogin();
  });
  whenUnauthorized(() => {
    setToken("");
    showLogin("Session expired or password changed; sign in again.");
  });
  window.addEventListener("hashchange", () => {
    if (token()) route();
  });
  setInterval(tickCountdowns, 1000);
  if (token()) {
    api("GET", "/api/config").then(showApp, () => showLogin());
  } else {
    showLogin();
  }
}

start();
