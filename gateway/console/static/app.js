// The console shell: sign-in, navigation by rights, hash routes, the live-updates indicator.
import * as api from "./api.js";
import * as live from "./live.js";
import { h, clear, button, toast, errorText, field } from "./ui.js";
import dashboard from "./pages/dashboard.js";
import outgoing from "./pages/outgoing.js";
import inbox from "./pages/inbox.js";
import send from "./pages/send.js";
import routing from "./pages/routing.js";
import devices from "./pages/devices.js";
import outbound from "./pages/outbound.js";
import settings from "./pages/settings.js";

const ICON = new URL("./icon.svg", import.meta.url).href; // beside this module, in the page's versioned path
const SUBMIT = ["submit_low", "submit_normal", "submit_high"];
const PAGES = [
  { path: "dashboard", title: "Dashboard", icon: "◧", page: dashboard, allowed: () => true },
  { path: "outgoing", title: "Outgoing", icon: "↗", page: outgoing, allowed: (r) => r.includes("query_jobs") || SUBMIT.some((s) => r.includes(s)) },
  { path: "inbox", title: "Inbox", icon: "↙", page: inbox, allowed: (r) => r.includes("query_in_archive") },
  { path: "send", title: "Send a fax", icon: "✉", page: send, allowed: (r) => SUBMIT.some((s) => r.includes(s)) },
  { path: "routing", title: "Inbound routing", icon: "⇶", page: routing, allowed: (r) => r.includes("query_config") },
  { path: "outbound", title: "Outbound routing", icon: "⇉", page: outbound, allowed: (r) => r.includes("query_config") },
  { path: "devices", title: "Devices", icon: "☎", page: devices, allowed: (r) => r.includes("query_config") },
  { path: "settings", title: "Server settings", icon: "⚙", page: settings, allowed: (r) => r.includes("query_config") },
];

const root = document.getElementById("app");
let session = null;
let server = null;
let serverCall = null; // the /server answer on its way: pages start on the session alone and show it when it comes
let current = null;
let main = null;
let liveBadge = null;

async function start() {
  try {
    // Both at once; the page's own requests start as soon as the session (the rights) is known.
    const known = api.get("/server");
    known.catch(() => {}); // a 401 here is the session's too, and handled there
    session = await api.get("/session");
    api.setCsrf(session.csrf);
    enter(known);
  } catch (error) {
    if (error.status === 401) showSignIn();
    else clear(root, h("p", { class: "boot" }, `The console could not start: ${errorText(error)}`));
  }
  root.removeAttribute("aria-busy");
}

function showSignIn(message) {
  live.disconnect();
  document.title = "Sign in · faxgate";
  let mode = "user";
  const user = h("input", { name: "user", autocomplete: "username", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const token = h("input", { name: "token", autocomplete: "off", spellcheck: "false", required: true });
  const error = h("p", { class: "form-error", role: "alert" }, message || "");
  const userFields = h("div", {}, field("User name", user), field("Password", password));
  const tokenFields = h("div", { hidden: true }, field("API token", token, "A token from `faxgate token create`, or the one printed at first start."));
  const tabs = h("div", { class: "segmented", role: "radiogroup", "aria-label": "Sign in with" },
    ...[["user", "User and password"], ["token", "API token"]].map(([value, label]) => {
      const input = h("input", { type: "radio", name: "mode", value, id: `mode-${value}`, checked: value === mode,
        onchange: () => { mode = value; userFields.hidden = mode !== "user"; tokenFields.hidden = mode !== "token";
          user.required = password.required = mode === "user"; token.required = mode === "token"; } });
      return h("span", {}, input, h("label", { for: `mode-${value}` }, label));
    }));
  token.required = false;
  const form = h("form", { class: "signin-card", "aria-labelledby": "signin-title",
    onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = "";
      const body = mode === "token" ? { token: token.value.trim() } : { user: user.value, password: password.value };
      try {
        session = await api.post("/session", body);
        api.setCsrf(session.csrf);
        password.value = token.value = "";
        enter();
      } catch (failure) {
        error.textContent = failure.status === 401 ? failure.message : `Could not sign in: ${errorText(failure)}`;
      }
    } },
    h("div", { class: "brand brand-large" }, h("img", { src: ICON, alt: "", width: 40, height: 40 }), h("span", {}, "faxgate")),
    h("h1", { id: "signin-title" }, "Sign in to the console"),
    tabs, userFields, tokenFields, error,
    h("button", { type: "submit", class: "btn btn-primary btn-block" }, "Sign in"));
  clear(root, h("main", { id: "main", class: "signin" }, form));
  user.focus();
}

function enter(known) {
  server = null;
  serverCall = (known || api.get("/server")).then((found) => { server = found; return found; });
  buildShell();
  live.connect(session.rights, setLive);
  window.addEventListener("hashchange", route);
  route();
}

function setLive(state) {
  if (!liveBadge) return;
  liveBadge.dataset.state = state;
  liveBadge.textContent = state === "live" ? "Live" : state === "reconnecting" ? "Reconnecting…" : "Offline";
}

function buildShell() {
  const allowed = PAGES.filter((p) => p.allowed(session.rights));
  const nav = h("nav", { class: "sidebar", "aria-label": "Main" }, h("div", { class: "sidebar-inner" },
    h("div", { class: "brand" }, h("img", { src: ICON, alt: "", width: 28, height: 28 }), h("span", {}, "faxgate")),
    h("ul", {}, allowed.map((p) => h("li", {}, h("a", { href: `#/${p.path}`, dataset: { path: p.path } },
      h("span", { class: "nav-icon", "aria-hidden": "true" }, p.icon), p.title))))));
  const menu = h("button", { type: "button", class: "menu-toggle", "aria-label": "Menu", "aria-expanded": "false",
    onclick: () => { const open = document.body.classList.toggle("nav-open"); menu.setAttribute("aria-expanded", String(open)); } }, "☰");
  const serverName = h("span", { class: "server-name" }, "faxgate");
  serverCall.then((found) => { serverName.textContent = found.server_name || "faxgate"; }).catch(() => {});
  liveBadge = h("span", { class: "live", dataset: { state: "connecting" }, role: "status", title: "Live updates from the event stream" }, "Connecting…");
  const topbar = h("header", { class: "topbar" }, menu,
    serverName,
    h("span", { class: "spacer" }),
    liveBadge,
    h("span", { class: "who" }, h("span", { class: "sr-only" }, "Signed in as "), session.display_name),
    button("Sign out", signOut, { kind: "ghost" }));
  main = h("main", { id: "main", class: "content", tabindex: "-1" });
  clear(root, h("div", { class: "shell" }, nav, h("div", { class: "column" }, topbar, main)));
}

async function signOut() {
  try { await api.del("/session"); } catch { /* the cookie goes either way */ }
  session = null;
  window.removeEventListener("hashchange", route);
  location.hash = "";
  showSignIn("You are signed out.");
}

function route() {
  if (!session) return;
  const [path = "dashboard", ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const entry = PAGES.find((p) => p.path === path) || PAGES[0];
  document.body.classList.remove("nav-open");
  for (const link of document.querySelectorAll(".sidebar a")) {
    if (link.dataset.path === entry.path) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (current && current.dispose) current.dispose();
  current = null;
  if (!entry.allowed(session.rights)) {
    document.title = "Not allowed · faxgate";
    clear(main, h("section", { class: "card" }, h("h1", { id: "page-title", tabindex: "-1" }, "Not allowed"),
      h("p", {}, "Your access rights do not include this page.")));
    return;
  }
  document.title = `${entry.title} · faxgate`;
  const context = { session, server, serverReady: serverCall, main, param: rest.join("/"), navigate: (hash) => { location.hash = hash; },
    can: (right) => session.rights.includes(right), subscribe: live.subscribe };
  clear(main);
  try {
    current = entry.page(context) || null;
  } catch (error) {
    toast(errorText(error), "bad");
  }
  const title = main.querySelector("#page-title");
  if (title && document.activeElement !== document.body) title.focus({ preventScroll: true });
}

window.addEventListener("unhandledrejection", (event) => {
  const error = event.reason;
  if (error && error.status === 401) { session = null; showSignIn("Your session ended; sign in again."); }
  else toast(errorText(error), "bad");
});

start();
