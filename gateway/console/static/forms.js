// Settings forms: one field per API key, read-only without MANAGE_CONFIG, only the changed keys sent, and the
// API's refusal (422 per field, 400/409 naming the key) shown next to the field it names.
import { h, clear, toast, errorText } from "./ui.js";

let serial = 0;

// A field's input as the API value: numbers scaled (minutes, days, MB to seconds and bytes), checkboxes as booleans.
function readValue(spec, control) {
  if (spec.type === "check") return control.checked;
  if (spec.type === "number") {
    if (control.value.trim() === "") return undefined;
    const value = Number(control.value) * (spec.scale || 1);
    return spec.integer ? Math.round(value) : value;
  }
  return control.value;
}

function shownValue(spec, value) {
  if (spec.type === "number") {
    if (value === null || value === undefined) return "";
    const shown = value / (spec.scale || 1);
    return String(Number.isInteger(shown) ? shown : Number(shown.toFixed(2)));
  }
  return value === null || value === undefined ? "" : String(value);
}

function control(spec, id) {
  const common = { id, name: spec.key, "aria-describedby": `${id}-error${spec.hint ? ` ${id}-hint` : ""}` };
  if (spec.type === "check") return h("input", { ...common, type: "checkbox" });
  if (spec.type === "select") return h("select", common, spec.options.map(([value, label]) => h("option", { value }, label)));
  if (spec.type === "number") return h("input", { ...common, type: "number", inputmode: "decimal", min: spec.min, max: spec.max, step: spec.step || "any" });
  return h("input", { ...common, type: spec.type || "text", maxlength: spec.maxlength, autocomplete: spec.type === "password" ? "new-password" : "off", spellcheck: "false", list: spec.list });
}

// The field a refusal names: a 422's loc, else the first key (or configuration alias) the message mentions.
function fieldFor(specs, text) {
  for (const spec of specs) {
    for (const name of [spec.key, ...(spec.aliases || [])]) {
      if (new RegExp(`(^|[^a-z_])${name}([^a-z_]|$)`).test(text)) return spec.key;
    }
  }
  return null;
}

export function settingsForm({ title, id, fields, editable, save, intro, extra }) {
  const parts = new Map();
  const message = h("p", { class: "form-error", role: "alert" });
  const notice = h("div", { class: "notice", hidden: true });
  const checks = h("div", { class: "settings-checks" });
  const body = h("div", { class: "settings-grid" });
  for (const spec of fields) {
    const fid = `${id}-${spec.key}-${(serial += 1)}`;
    const input = control(spec, fid);
    const error = h("p", { class: "field-error", id: `${fid}-error` });
    const hint = spec.hint ? h("p", { class: "hint", id: `${fid}-hint` }, spec.hint) : null;
    const wrap = spec.type === "check"
      ? h("div", { class: "field field-check" }, h("div", { class: "check" }, input, h("label", { for: fid }, spec.label)), hint, error)
      : h("div", { class: `field${spec.wide ? " field-wide" : ""}` }, h("label", { for: fid }, spec.label), input, hint, error);
    parts.set(spec.key, { spec, input, error, wrap, initial: "" });
    (spec.type === "check" ? checks : body).append(wrap); // switches in one row above the values
  }
  const saveButton = h("button", { type: "submit", class: "btn btn-primary" }, "Save");
  const resetButton = h("button", { type: "button", class: "btn btn-ghost", onclick: () => show(loaded) }, "Undo changes");
  const fieldset = h("fieldset", { class: "plain", disabled: !editable }, h("legend", { class: "sr-only" }, title), checks, body);
  const node = h("form", { class: "card settings", id, novalidate: true, "aria-labelledby": `${id}-title`, onsubmit: submit },
    h("h2", { id: `${id}-title` }, title), intro ? h("p", { class: "muted" }, intro) : null, notice, fieldset, extra || null,
    editable ? h("div", { class: "form-actions" }, saveButton, resetButton, message)
      : h("p", { class: "muted small read-only" }, "Read-only: changing these needs the MANAGE_CONFIG right."));
  let loaded = {};

  function snapshot(part) { return part.spec.type === "check" ? String(part.input.checked) : part.input.value; }

  function show(values) {
    loaded = values;
    notice.hidden = true;
    clearErrors();
    for (const part of parts.values()) {
      const value = values[part.spec.key];
      if (part.spec.type === "check") part.input.checked = Boolean(value);
      else if (part.spec.writeOnly) part.input.value = "";
      else part.input.value = shownValue(part.spec, value);
      part.initial = snapshot(part);
    }
  }

  function changes() {
    const found = {};
    for (const part of parts.values()) {
      if (snapshot(part) === part.initial) continue;
      found[part.spec.key] = readValue(part.spec, part.input);
    }
    return found;
  }

  function clearErrors() {
    message.textContent = "";
    for (const part of parts.values()) { part.error.textContent = ""; part.input.removeAttribute("aria-invalid"); }
  }

  function mark(key, text) {
    const part = parts.get(key);
    part.error.textContent = text;
    part.input.setAttribute("aria-invalid", "true");
  }

  function refused(error) {
    const specs = [...parts.values()].map((p) => p.spec);
    let placed = 0;
    for (const problem of error.problems || []) {
      const key = (problem.loc || []).find((l) => parts.has(l)) || fieldFor(specs, problem.msg);
      if (key) { mark(key, problem.msg); placed += 1; }
    }
    if (!(error.problems || []).length) {
      const key = fieldFor(specs, error.message);
      if (key) { mark(key, error.message); placed += 1; }
    }
    message.textContent = placed ? "Not saved: see the field marked below." : `Not saved: ${errorText(error)}`;
    const first = [...parts.values()].find((p) => p.input.getAttribute("aria-invalid"));
    if (first) first.input.focus();
  }

  async function submit(event) {
    event.preventDefault();
    clearErrors();
    const changed = changes();
    const empty = Object.entries(changed).find(([, value]) => value === undefined);
    if (empty) { mark(empty[0], "Enter a number."); message.textContent = "Not saved: see the field marked below."; return; }
    if (!Object.keys(changed).length) { toast("Nothing was changed.", "info"); return; }
    saveButton.disabled = true;
    try {
      show(await save(changed));
      toast(`${title}: saved.`, "ok");
    } catch (error) {
      if (error.status === 422 || error.status === 400 || error.status === 409 || error.status === 404) refused(error);
      else message.textContent = `Not saved: ${errorText(error)}`;
    } finally { saveButton.disabled = false; }
  }

  // Another administrator's change (a CONFIG event): shown at once unless this form holds unsaved edits.
  function changedElsewhere(values, by) {
    if (!Object.keys(changes()).length) { show(values); return; }
    clear(notice, h("span", {}, `${by || "Someone"} changed these settings while you were editing. `),
      h("button", { type: "button", class: "btn btn-secondary btn-sm", onclick: () => show(values) }, "Show their values"));
    notice.hidden = false;
  }

  return { node, show, changedElsewhere };
}
