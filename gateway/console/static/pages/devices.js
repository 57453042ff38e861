// Devices: each line's configuration (TSID/CSID, rings, receive mode, sending) and its live state.
import * as api from "../api.js";
import { h, clear, pageHeader, errorText, table, badge, humanize, timeTag, emptyState, tableWrap } from "../ui.js";

export default function devices(ctx) {
  const box = tableWrap("Devices");
  ctx.main.append(pageHeader("Devices", "Fax lines of every node, with the state each last reported"), h("section", { class: "card flush" }, box));
  let found = [];
  const columns = [
    { title: "Line", cell: (d) => [h("strong", {}, d.name), h("div", { class: "muted small" }, `id ${d.id} · ${humanize(d.provider)}`)] },
    { title: "State", cell: (d) => [badge(d.state || "offline", d.state || "offline"), h("div", { class: "muted small" }, d.status_text || "")] },
    { title: "CSID / TSID", cell: (d) => `${d.csid || "—"} / ${d.tsid || "—"}` },
    { title: "Receive", cell: (d) => `${humanize(d.receive_mode)}, ${d.rings_before_answer} ring${d.rings_before_answer === 1 ? "" : "s"}` },
    { title: "Send", cell: (d) => d.send_enabled ? "enabled" : "disabled" },
    { title: "Node", cell: (d) => d.node_id || "—" },
    { title: "Updated", cell: (d) => timeTag(d.updated_at) },
  ];
  function draw() {
    clear(box, found.length ? table(columns, found, { caption: "Devices" }) : emptyState("No devices are configured."));
  }
  api.get("/devices").then((list) => { found = list.map((d) => ({ ...d, state: d.state || (d.status === null ? "offline" : "unknown") })); draw(); })
    .catch((error) => clear(box, h("p", { class: "form-error" }, errorText(error))));
  const unsubscribe = ctx.subscribe((event) => {
    if (event.topic !== "DEVICE_STATUS") return;
    const d = found.find((x) => x.name === event.payload.device);
    if (!d) return;
    d.state = event.payload.state; d.status_text = event.payload.text ?? d.status_text; d.updated_at = event.at; d.node_id = event.payload.node || d.node_id;
    draw();
  });
  return { dispose: unsubscribe };
}
