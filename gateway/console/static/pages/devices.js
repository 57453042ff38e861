// Devices: each line's live state, and one line's settings (IFaxDevice: TSID, CSID, rings, receive mode, sending,
// routing methods, AnswerCall), editable with MANAGE_CONFIG and refreshed by the event stream.
import * as api from "../api.js";
import { h, clear, pageHeader, errorText, table, badge, humanize, timeTag, emptyState, tableWrap, button, toast } from "../ui.js";
import { settingsForm } from "../forms.js";

const RECEIVE_MODES = [["auto", "Answer automatically"], ["manual", "Answer by hand (Answer now)"], ["no_answer", "Off: do not answer"]];
const RECEIVE_TEXT = Object.fromEntries(RECEIVE_MODES.map(([value, label]) => [value, label.split(" (")[0]]));
RECEIVE_TEXT.auto_answer = RECEIVE_TEXT.auto; // GET /devices names the modes as FAX_DEVICE_RECEIVE_MODE_ENUM does
RECEIVE_TEXT.manual_answer = RECEIVE_TEXT.manual;

const FIELDS = [
  { key: "tsid", label: "TSID (station id when sending)", maxlength: 20, hint: "Printable ASCII, at most 20 characters" },
  { key: "csid", label: "CSID (station id when receiving)", maxlength: 20, hint: "Printable ASCII, at most 20 characters" },
  { key: "rings_before_answer", label: "Rings before answer", type: "number", min: 1, max: 20, step: 1, integer: true },
  { key: "receive_mode", label: "Receive", type: "select", options: RECEIVE_MODES },
  { key: "send_enabled", label: "Send faxes on this line", type: "check" },
  { key: "description", label: "Description", maxlength: 256, wide: true },
];

export default function devices(ctx) {
  if (ctx.param) return device(ctx, decodeURIComponent(ctx.param));
  const box = tableWrap("Devices");
  ctx.main.append(pageHeader("Devices", "Fax lines of every node, with the state each last reported"), h("section", { class: "card flush" }, box));
  let found = [];
  const manage = ctx.can("manage_config");
  const columns = [
    { title: "Line", cell: (d) => [h("a", { href: `#/devices/${encodeURIComponent(d.name)}` }, h("strong", {}, d.name)), h("div", { class: "muted small" }, `id ${d.id} · ${humanize(d.provider)}`)] },
    { title: "State", cell: (d) => [badge(d.state || "offline", d.state || "offline"), h("div", { class: "muted small" }, d.status_text || "")] },
    { title: "CSID / TSID", cell: (d) => `${d.csid || "—"} / ${d.tsid || "—"}` },
    { title: "Receive", cell: (d) => `${RECEIVE_TEXT[d.receive_mode] || humanize(d.receive_mode)}, ${d.rings_before_answer} ring${d.rings_before_answer === 1 ? "" : "s"}` },
    { title: "Send", cell: (d) => d.send_enabled ? "enabled" : "disabled" },
    { title: "Node", cell: (d) => d.node_id || "—" },
    { title: "Updated", cell: (d) => timeTag(d.updated_at) },
    { title: "Settings", cell: (d) => h("a", { class: "btn btn-secondary btn-sm", href: `#/devices/${encodeURIComponent(d.name)}`, "aria-label": `${manage ? "Edit" : "View"} ${d.name}` }, manage ? "Edit" : "View") },
  ];
  function draw() {
    clear(box, found.length ? table(columns, found, { caption: "Devices", rowKey: (d) => d.name }) : emptyState("No devices are configured."));
  }
  const load = () => api.get("/devices").then((list) => { found = list.map((d) => ({ ...d, state: d.state || (d.status === null ? "offline" : "unknown") })); draw(); });
  load().catch((error) => clear(box, h("p", { class: "form-error" }, errorText(error))));
  const unsubscribe = ctx.subscribe((event) => {
    if (event.topic === "CONFIG" && String(event.payload.area || "").startsWith("device:")) { load().catch(() => {}); return; }
    if (event.topic !== "DEVICE_STATUS") return;
    const d = found.find((x) => x.name === event.payload.device);
    if (!d) return;
    d.state = event.payload.state; d.status_text = event.payload.text ?? d.status_text; d.updated_at = event.at; d.node_id = event.payload.node || d.node_id;
    draw();
  });
  return { dispose: unsubscribe };
}

function device(ctx, name) {
  const editable = ctx.can("manage_config");
  const path = `/devices/${encodeURIComponent(name)}`;
  const state = h("div", { class: "device-state", "aria-live": "polite" });
  const methods = h("div");
  const form = settingsForm({ id: "device-settings", title: "Line settings", fields: FIELDS, editable,
    intro: "The node that runs the line applies a change within a second, without a restart.",
    save: (changes) => api.put(`${path}/settings`, changes).then((values) => { drawSettings(values); return values; }) });
  ctx.main.append(pageHeader(`Line ${name}`, "", h("a", { class: "btn btn-ghost", href: "#/devices" }, "← Devices")),
    h("section", { class: "card", "aria-labelledby": "state-title" }, h("h2", { id: "state-title" }, "State"), state),
    form.node,
    h("section", { class: "card", "aria-labelledby": "methods-title" }, h("h2", { id: "methods-title" }, "Routing methods"),
      h("p", { class: "muted" }, "What happens to a fax this line receives, in the order the methods run."), methods));
  let live = { state: "", text: "" };
  let current = null;

  // The line's own words, unless they only repeat its state ("available" beside "Ready").
  function stateText() {
    const text = (live.text || "").toLowerCase();
    return !text || text === live.state || text === "available" ? "" : live.text;
  }

  function drawState() {
    if (!current) return;
    const answer = current.ringing && current.receive_mode === "manual" && ctx.can("query_in_archive")
      ? button("Answer now", async () => {
        try { await api.post(`${path}/answer`); toast(`Answering the call on ${name}.`, "ok"); } catch (error) { toast(errorText(error), "bad"); }
      }, { kind: "primary", icon: "☎" }) : null;
    clear(state, h("div", { class: "state-line" }, live.state ? badge(live.state, live.state) : null,
      current.ringing && live.state !== "ringing" ? badge("ringing", "ringing") : null,
      h("span", {}, current.ringing ? "A call is ringing, waiting to be answered." : stateText()), answer),
    h("p", { class: "muted small" }, `Runs on node ${current.node_id || "—"} · receive: ${RECEIVE_TEXT[current.receive_mode]}, ${current.rings_before_answer} ring(s) · sending ${current.send_enabled ? "on" : "off"}`));
  }

  function drawMethods() {
    if (!current.routing_methods.length) { clear(methods, emptyState("No routing method is loaded.")); return; }
    clear(methods, h("ul", { class: "method-list" }, current.routing_methods.map((m) => {
      const id = `method-${m.name}`;
      const box = h("input", { type: "checkbox", id, checked: m.enabled, disabled: !editable, onchange: async () => {
        box.disabled = true;
        try {
          drawSettings(await api.put(`${path}/routing-methods/${encodeURIComponent(m.name)}`, { enabled: box.checked }), true);
          toast(`${m.friendly_name || m.name} is ${box.checked ? "on" : "off"} for ${name}.`, "ok");
        } catch (error) { box.checked = !box.checked; toast(errorText(error), "bad"); } finally { box.disabled = !editable; }
      } });
      return h("li", { class: "check" }, h("span", { class: "method-order", "aria-hidden": "true" }, String(m.priority)), box,
        h("label", { for: id }, m.friendly_name || m.name, h("span", { class: "muted small" }, ` ${m.name}`)));
    })));
  }

  function drawSettings(values, methodsOnly = false) {
    current = values;
    if (!methodsOnly) drawState();
    drawMethods();
  }

  async function load(by) {
    const values = await api.get(`${path}/settings`);
    drawSettings(values);
    if (by === undefined) form.show(values); else form.changedElsewhere(values, by);
  }
  // A call ringing or the line's state: the state and Answer now change, the form being edited does not.
  const refreshState = async () => drawSettings(await api.get(`${path}/settings`));
  api.get("/devices").then((list) => {
    const d = list.find((x) => x.name === name);
    if (d) { live = { state: d.state || (d.status === null ? "offline" : "unknown"), text: d.status_text || "" }; drawState(); }
  }).catch(() => {});
  load().catch((error) => clear(state, h("p", { class: "form-error" }, errorText(error))));
  const unsubscribe = ctx.subscribe((event) => {
    const p = event.payload || {};
    if (event.topic === "CONFIG" && p.area === `device:${name}`) load(p.by || "").catch(() => {});
    else if (event.topic === "DEVICE_STATUS" && p.device === name) {
      live = { state: p.state || live.state, text: p.text ?? live.text };
      refreshState().catch(() => {});
    } else if (event.topic === "INCOMING_CALL" && p.device === name) refreshState().catch(() => {});
  });
  return { dispose: unsubscribe };
}
