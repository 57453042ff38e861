// Small DOM helpers: elements built with textContent (never innerHTML with data), formatting, badges, toasts.
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const clockFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

export function when(seconds) {
  if (!seconds) return "—";
  const date = new Date(seconds * 1000);
  const today = new Date();
  return date.toDateString() === today.toDateString() ? `Today ${clockFormat.format(date)}` : timeFormat.format(date);
}

export function timeTag(seconds) {
  if (!seconds) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: new Date(seconds * 1000).toISOString() }, when(seconds));
}

const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

export function relative(seconds) {
  if (!seconds) return "";
  const delta = Math.round(seconds - Date.now() / 1000);
  const abs = Math.abs(delta);
  const [value, unit] = abs < 60 ? [delta, "second"] : abs < 3600 ? [Math.round(delta / 60), "minute"]
    : abs < 86400 ? [Math.round(delta / 3600), "hour"] : [Math.round(delta / 86400), "day"];
  return relativeFormat.format(value, unit);
}

const LABELS = { inprogress: "In progress", noline: "No line", retries_exceeded: "Retries exceeded", not_ready: "Not ready",
  call_completed: "Call completed", no_answer: "No answer", line_unavailable: "Line unavailable" };

export function humanize(name) {
  const key = String(name || "").toLowerCase();
  return LABELS[key] || key.replaceAll("_", " ").replace(/^\w/, (c) => c.toUpperCase());
}

const TONES = {
  completed: "ok", ready: "ok", available: "ok", delivered: "ok", call_completed: "ok",
  inprogress: "busy", sending: "busy", receiving: "busy", dialing: "busy", ringing: "busy", routing: "busy",
  pending: "info", retrying: "warn", paused: "warn", noline: "warn", initializing: "info", canceling: "warn",
  failed: "bad", retries_exceeded: "bad", canceled: "neutral", not_ready: "bad", offline: "bad",
  unavailable: "bad", fatal_error: "bad", stopped: "neutral", disabled: "neutral",
};

export function badge(text, key) {
  const tone = TONES[String(key || text).toLowerCase()] || "neutral";
  return h("span", { class: `badge badge-${tone}` }, humanize(text));
}

export function jobStatus(job) {
  const names = job.status_names.map((n) => n.toLowerCase());
  const base = names.find((n) => n !== "paused" && n !== "noline") || names[0] || "unknown";
  const parts = [badge(base)];
  if (names.includes("paused")) parts.push(" ", badge("paused"));
  if (names.includes("noline")) parts.push(" ", badge("noline", "noline"));
  return parts;
}

export function toast(message, tone = "info") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${tone}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}

export function errorText(error) {
  if (error && error.missingRight) return `${error.message}`;
  return error && error.message ? error.message : String(error);
}

export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const hintNode = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintNode) control.setAttribute("aria-describedby", hintNode.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintNode);
}

// A button of a kind (primary, secondary, ghost, danger, danger-ghost); a class given (btn-sm) adds to the kind's.
export function button(label, onclick, { kind = "secondary", icon = "", class: extra = "", ...attrs } = {}) {
  const classes = ["btn", `btn-${kind}`, ...extra.split(" ").filter((c) => c && c !== "btn")].join(" ");
  return h("button", { type: "button", onclick, ...attrs, class: classes }, icon ? h("span", { class: "icon", "aria-hidden": "true" }, icon) : null, label);
}

export function pageHeader(title, subtitle, ...actions) {
  return h("header", { class: "page-header" },
    h("div", {}, h("h1", { id: "page-title", tabindex: "-1" }, title), subtitle ? h("p", { class: "subtitle" }, subtitle) : null),
    h("div", { class: "actions" }, actions));
}

export function emptyState(text) {
  return h("div", { class: "empty" }, text);
}

export function confirmDialog(title, text, confirmLabel = "Confirm") {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "dialog-title" },
      h("h2", { id: "dialog-title" }, title), h("p", {}, text),
      h("div", { class: "dialog-actions" },
        button("Cancel", () => dialog.close("cancel")),
        button(confirmLabel, () => dialog.close("ok"), { kind: "danger" })));
    dialog.addEventListener("close", () => { resolve(dialog.returnValue === "ok"); dialog.remove(); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function table(columns, rows, { caption, rowKey } = {}) {
  const body = h("tbody");
  const node = h("table", { class: "table responsive" },
    caption ? h("caption", { class: "sr-only" }, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.title)))), body);
  for (const row of rows) body.append(tableRow(columns, row, rowKey));
  return node;
}

export function tableRow(columns, row, rowKey) {
  const tr = h("tr", rowKey ? { dataset: { key: String(rowKey(row)) } } : {});
  for (const c of columns) tr.append(h("td", { "data-label": c.title, class: c.class }, c.cell(row)));
  return tr;
}

// A table that may scroll sideways: a named region reachable by keyboard.
export function tableWrap(label, ...children) {
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": label }, children);
}
