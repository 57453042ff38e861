// Outbound routing (IFaxOutboundRoutingGroups / Rules): which lines a fax to a country and area code may use.
// Each change sends the whole list back (PUT), as the API takes it; a CONFIG event redraws the page for everyone.
import * as api from "../api.js";
import { h, clear, pageHeader, errorText, table, emptyState, button, toast, confirmDialog, tableWrap } from "../ui.js";

const ALL = "<All Devices>";

function targetText(rule) {
  return rule.group ? `Group ${rule.group}` : `Line ${rule.device}`;
}

export default function outbound(ctx) {
  const editable = ctx.can("manage_config");
  const groupsBox = tableWrap("Routing groups");
  const rulesBox = tableWrap("Routing rules");
  const groupForm = h("div");
  const ruleForm = h("div");
  ctx.main.append(pageHeader("Outbound routing", "A fax goes out on the lines of the rule for its country and area code; without one, on any line"),
    h("section", { class: "card flush", "aria-labelledby": "out-rules-title" }, h("h2", { id: "out-rules-title", class: "card-title" }, "Rules"), rulesBox, ruleForm),
    h("section", { class: "card flush", "aria-labelledby": "groups-title" }, h("h2", { id: "groups-title", class: "card-title" }, "Groups"), groupsBox, groupForm));
  let groups = [];
  let rules = [];
  let devices = [];
  let editingRule = null;
  let editingGroup = null;

  async function saveRules(next, done) {
    const saved = await api.put("/outbound-routing/rules", next);
    rules = saved;
    editingRule = null;
    draw(true);
    toast(done, "ok");
  }

  async function saveGroups(next, done) {
    const saved = await api.put("/outbound-routing/groups", next);
    groups = saved;
    editingGroup = null;
    draw(true);
    toast(done, "ok");
  }

  function ruleEditor() {
    const rule = editingRule === null ? { country_code: "", area_code: 0, group: ALL, device: "" } : rules[editingRule];
    const country = h("input", { id: "rule-country", name: "country_code", type: "number", min: 1, max: 999, step: 1, value: rule.country_code, "aria-describedby": "rule-country-error" });
    const area = h("input", { id: "rule-area", name: "area_code", type: "number", min: 0, step: 1, value: rule.area_code, "aria-describedby": "rule-area-hint rule-area-error" });
    const target = h("select", { id: "rule-target", name: "target", "aria-describedby": "rule-target-error" },
      h("optgroup", { label: "Groups" }, [ALL, ...groups.map((g) => g.name)].map((name) => h("option", { value: `group:${name}`, selected: rule.group === name }, name))),
      h("optgroup", { label: "Lines" }, devices.map((d) => h("option", { value: `device:${d.name}`, selected: rule.device === d.name }, d.name))));
    const errors = { country_code: h("p", { class: "field-error", id: "rule-country-error" }), area_code: h("p", { class: "field-error", id: "rule-area-error" }),
      target: h("p", { class: "field-error", id: "rule-target-error" }) };
    const message = h("p", { class: "form-error", role: "alert" });
    const submit = async (event) => {
      event.preventDefault();
      for (const node of [...Object.values(errors), message]) node.textContent = "";
      const [kind, name] = target.value.split(/:(.*)/s);
      const made = { country_code: Number(country.value), area_code: Number(area.value || 0), group: kind === "group" ? name : "", device: kind === "device" ? name : "" };
      const next = editingRule === null ? [...rules, made] : rules.map((r, i) => (i === editingRule ? made : r));
      try {
        await saveRules(next, editingRule === null ? `Rule for ${made.country_code}/${made.area_code} added.` : "Rule changed.");
      } catch (error) {
        const keys = (error.problems || []).map((p) => [p.loc && p.loc.find((l) => l in errors || l === "group" || l === "device"), p.msg]);
        let placed = false;
        for (const [key, msg] of keys) { if (key) { errors[key in errors ? key : "target"].textContent = msg; placed = true; } }
        if (!placed && /group|device/.test(error.message) && error.status === 404) { errors.target.textContent = error.message; placed = true; }
        if (!placed && /country|area/.test(error.message)) { errors.country_code.textContent = error.message; placed = true; }
        message.textContent = placed ? "Not saved: see the field marked above." : `Not saved: ${errorText(error)}`;
      }
    };
    return h("form", { class: "inline-form", novalidate: true, "aria-labelledby": "rule-form-title", onsubmit: submit },
      h("h3", { id: "rule-form-title" }, editingRule === null ? "Add a rule" : `Change the rule for ${rule.country_code}/${rule.area_code}`),
      h("div", { class: "grid-3" },
        h("div", { class: "field" }, h("label", { for: "rule-country" }, "Country code"), country, errors.country_code),
        h("div", { class: "field" }, h("label", { for: "rule-area" }, "Area code"), area, h("p", { class: "hint", id: "rule-area-hint" }, "0 for every area"), errors.area_code),
        h("div", { class: "field" }, h("label", { for: "rule-target" }, "Send on"), target, errors.target)),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, editingRule === null ? "Add rule" : "Save rule"),
        editingRule === null ? null : button("Cancel", () => { editingRule = null; draw(true); }, { kind: "ghost" }), message));
  }

  function groupEditor() {
    const group = editingGroup === null ? { name: "", devices: [] } : groups[editingGroup];
    const name = h("input", { id: "group-name", name: "name", maxlength: 128, value: group.name, autocomplete: "off", "aria-describedby": "group-name-error" });
    const boxes = devices.map((d) => h("input", { type: "checkbox", id: `group-dev-${d.name}`, value: d.name, checked: group.devices.includes(d.name) }));
    const nameError = h("p", { class: "field-error", id: "group-name-error" });
    const message = h("p", { class: "form-error", role: "alert" });
    const submit = async (event) => {
      event.preventDefault();
      nameError.textContent = message.textContent = "";
      const made = { name: name.value.trim(), devices: boxes.filter((b) => b.checked).map((b) => b.value) };
      const next = editingGroup === null ? [...groups, made] : groups.map((g, i) => (i === editingGroup ? made : g));
      try {
        await saveGroups(next, editingGroup === null ? `Group ${made.name} added.` : "Group changed.");
      } catch (error) {
        const problem = (error.problems || []).find((p) => p.loc && p.loc.includes("name"));
        if (problem || /named|built in/.test(error.message)) nameError.textContent = problem ? problem.msg : error.message;
        message.textContent = nameError.textContent ? "Not saved: see the field marked above." : `Not saved: ${errorText(error)}`;
      }
    };
    return h("form", { class: "inline-form", novalidate: true, "aria-labelledby": "group-form-title", onsubmit: submit },
      h("h3", { id: "group-form-title" }, editingGroup === null ? "Add a group" : `Change group ${group.name}`),
      h("div", { class: "grid-3" }, h("div", { class: "field" }, h("label", { for: "group-name" }, "Group name"), name, nameError),
        h("fieldset", { class: "field plain device-checks" }, h("legend", {}, "Lines, in the order they are tried"),
          devices.map((d, i) => h("div", { class: "check" }, boxes[i], h("label", { for: boxes[i].id }, d.name))))),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, editingGroup === null ? "Add group" : "Save group"),
        editingGroup === null ? null : button("Cancel", () => { editingGroup = null; draw(true); }, { kind: "ghost" }), message));
  }

  function draw(force = false) {
    const ruleActions = (r) => {
      const index = rules.indexOf(r);
      const label = `${r.country_code}/${r.area_code}`;
      return h("div", { class: "row-actions" },
        button("Change", () => { editingRule = index; draw(true); document.getElementById("rule-country")?.focus(); }, { kind: "ghost", class: "btn btn-sm", "aria-label": `Change rule ${label}` }),
        button("Delete", async () => {
          if (!(await confirmDialog("Delete this rule?", `Faxes to ${label} will go out on any line.`, "Delete rule"))) return;
          try { await saveRules(rules.filter((x) => x !== r), `Rule ${label} deleted.`); } catch (error) { toast(errorText(error), "bad"); }
        }, { kind: "danger-ghost", class: "btn btn-sm", "aria-label": `Delete rule ${label}` }));
    };
    clear(rulesBox, rules.length ? table([
      { title: "Country", class: "num", cell: (r) => String(r.country_code) },
      { title: "Area", class: "num", cell: (r) => (r.area_code ? String(r.area_code) : "any") },
      { title: "Sent on", cell: (r) => targetText(r) },
      editable ? { title: "Actions", class: "actions-cell", cell: ruleActions } : null,
    ].filter(Boolean), rules, { caption: "Outbound routing rules", rowKey: (r) => `${r.country_code}/${r.area_code}` })
      : emptyState("No rules: every fax may use any line."));
    const groupActions = (g) => {
      const index = groups.indexOf(g);
      return h("div", { class: "row-actions" },
        button("Change", () => { editingGroup = index; draw(true); document.getElementById("group-name")?.focus(); }, { kind: "ghost", class: "btn btn-sm", "aria-label": `Change group ${g.name}` }),
        button("Delete", async () => {
          if (!(await confirmDialog("Delete this group?", `Group ${g.name} goes; a rule that names it must be changed first.`, "Delete group"))) return;
          try { await saveGroups(groups.filter((x) => x !== g), `Group ${g.name} deleted.`); } catch (error) { toast(errorText(error), "bad"); }
        }, { kind: "danger-ghost", class: "btn btn-sm", "aria-label": `Delete group ${g.name}` }));
    };
    clear(groupsBox, table([
      { title: "Group", cell: (g) => h("strong", {}, g.name) },
      { title: "Lines, in order", cell: (g) => (g.name === ALL ? "every line" : g.devices.join(", ") || "none") },
      editable ? { title: "Actions", class: "actions-cell", cell: (g) => (g.name === ALL ? h("span", { class: "muted small" }, "built in") : groupActions(g)) } : null,
    ].filter(Boolean), [{ name: ALL, devices: [] }, ...groups], { caption: "Outbound routing groups", rowKey: (g) => g.name }));
    // The forms are rebuilt unless someone is typing in one (another administrator's change redraws the tables).
    if (force || !ruleForm.contains(document.activeElement)) clear(ruleForm, editable ? ruleEditor() : null);
    if (force || !groupForm.contains(document.activeElement)) clear(groupForm, editable ? groupEditor() : null);
  }

  async function load(force = true) {
    [groups, rules, devices] = await Promise.all([api.get("/outbound-routing/groups"), api.get("/outbound-routing/rules"), api.get("/devices")]);
    if (editingRule !== null && editingRule >= rules.length) editingRule = null;
    if (editingGroup !== null && editingGroup >= groups.length) editingGroup = null;
    draw(force);
  }
  load().catch((error) => clear(rulesBox, h("p", { class: "form-error" }, errorText(error))));
  const unsubscribe = ctx.subscribe((event) => {
    if (event.topic === "CONFIG" && event.payload.area === "outbound") load(false).catch(() => {});
  });
  return { dispose: unsubscribe };
}
