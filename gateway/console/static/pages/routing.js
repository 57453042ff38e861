// Inbound routing: the rules in the order they are tried, and the dry-run tester (`faxgate route test`).
import * as api from "../api.js";
import { h, clear, pageHeader, field, errorText, table, emptyState, badge, humanize, tableWrap } from "../ui.js";

function matchText(match) {
  const parts = Object.entries(match).map(([key, value]) => `${humanize(key)}: ${Array.isArray(value) ? value.join(", ") : value}`);
  return parts.length ? parts.join(" · ") : "every fax";
}

export default function routing(ctx) {
  const rulesBox = tableWrap("Routing rules");
  const result = h("div", { "aria-live": "polite" });
  ctx.main.append(pageHeader("Inbound routing", "Rules are tried in order; a fax no rule takes goes to the administrator"),
    h("section", { class: "card flush", "aria-labelledby": "rules-title" }, h("h2", { id: "rules-title", class: "card-title" }, "Rules"), rulesBox));

  const device = h("select", { name: "device" });
  const inputs = {
    did: h("input", { name: "did", inputmode: "tel" }), caller_id: h("input", { name: "caller_id", inputmode: "tel" }),
    caller_name: h("input", { name: "caller_name" }), tsid: h("input", { name: "tsid" }),
    subaddress: h("input", { name: "subaddress" }), at: h("input", { name: "at", type: "datetime-local" }),
    pages: h("input", { name: "pages", type: "number", min: 1, value: 1 }),
  };
  const form = h("form", { class: "card", "aria-labelledby": "tester-title", onsubmit: async (event) => {
    event.preventDefault();
    const body = { device: device.value, did: inputs.did.value, caller_id: inputs.caller_id.value, caller_name: inputs.caller_name.value,
      tsid: inputs.tsid.value, subaddress: inputs.subaddress.value, pages: Number(inputs.pages.value) || 1 };
    if (inputs.at.value) body.at = new Date(inputs.at.value).getTime() / 1000;
    try { show(await api.post("/routing/test", body)); } catch (error) { clear(result, h("p", { class: "form-error" }, errorText(error))); }
  } },
    h("h2", { id: "tester-title" }, "Test a call"),
    h("p", { class: "muted" }, "Describe a call: the page shows which rules match and what would be delivered where. Nothing is sent."),
    h("div", { class: "grid-3" }, field("Receiving line", device), field("Dialled number (DID)", inputs.did), field("Caller ID", inputs.caller_id),
      field("Caller name", inputs.caller_name), field("Sender's station id (TSID)", inputs.tsid), field("Subaddress", inputs.subaddress),
      field("Received at", inputs.at, "Empty for now"), field("Pages", inputs.pages)),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Test")), result);
  ctx.main.append(form);

  function show(answer) {
    clear(result,
      h("h3", {}, "Decision"), h("p", { class: "decision" }, answer.why),
      answer.rules.length ? h("ol", { class: "rule-checks" }, answer.rules.map((r) => h("li", {},
        badge(r.matched ? "match" : r.skipped ? "skipped" : "no match", r.matched ? "completed" : r.skipped ? "canceled" : "pending"), " ",
        h("strong", {}, r.rule), h("span", { class: "muted" }, ` ${r.reasons.join("; ")}`)))) : null,
      h("h3", {}, "Deliveries"),
      answer.deliveries.length ? h("ol", {}, answer.deliveries.map((d) => h("li", {}, h("strong", {}, humanize(d.method)), ` (${d.rule || "catch-all"}): ${d.action}`)))
        : emptyState("Nothing would be delivered."),
      answer.notes.length ? h("ul", { class: "notes" }, answer.notes.map((n) => h("li", {}, n))) : null);
  }

  Promise.all([api.get("/routing/rules"), api.get("/devices")]).then(([rules, devices]) => {
    clear(device, devices.map((d) => h("option", { value: d.name }, d.name)));
    const rows = rules.rules.map((r, i) => ({ ...r, order: i + 1 }));
    clear(rulesBox, rows.length ? table([
      { title: "#", class: "num", cell: (r) => String(r.order) },
      { title: "Rule", cell: (r) => h("strong", {}, r.name) },
      { title: "Matches", cell: (r) => matchText(r.match) },
      { title: "Methods", cell: (r) => r.methods.map(humanize).join(", ") || "—" },
    ], rows, { caption: "Routing rules" }) : emptyState(`No rules: every fax goes to the administrator (${rules.admin}).`),
    h("p", { class: "muted small pad" }, `Catch-all: ${rules.admin} · times in ${rules.timezone}`));
  }).catch((error) => clear(rulesBox, h("p", { class: "form-error" }, errorText(error))));
}
