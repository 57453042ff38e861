// Dashboard: devices with live state, queue and archive counts, today's activity, alerts.
import * as api from "../api.js";
import { jobId } from "../live.js";
import { h, append as appendTo, clear, badge, pageHeader, timeTag, jobStatus, emptyState, humanize, relative, errorText } from "../ui.js";

const WORKING = new Set(["ready", "sending", "receiving", "ringing", "dialing"]);

function startOfToday() {
  const now = new Date();
  return new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime() / 1000;
}

export default function dashboard(ctx) {
  const config = ctx.can("query_config");
  const stats = h("section", { class: "stats", "aria-label": "Counts" });
  const devicesBox = h("div", { class: "device-grid" });
  const alertsBox = h("ul", { class: "alerts" });
  const recentBody = h("div");
  const liveAlerts = [];
  let devices = [];
  let queue = null;
  let figures = null;

  append();

  function append() {
    const where = h("span", {}, ctx.server ? identity(ctx.server) : "");
    ctx.serverReady.then((server) => { where.textContent = identity(server); }).catch(() => {});
    const callIn = ctx.can("manage_config") ? h("a", { class: "btn btn-secondary", href: "#/inbox/call" }, "Simulate an incoming fax") : null;
    appendTo(ctx.main, [
      pageHeader("Dashboard", where,
        ctx.can("submit_low") || ctx.can("submit_normal") || ctx.can("submit_high")
          ? h("a", { class: "btn btn-primary", href: "#/send" }, "Send a fax") : null, callIn),
      config ? stats : null,
      config ? h("div", { class: "grid-2" },
        h("section", { class: "card", "aria-labelledby": "devices-title" },
          h("h2", { id: "devices-title" }, "Lines"), devicesBox),
        h("section", { class: "card", "aria-labelledby": "alerts-title" },
          h("h2", { id: "alerts-title" }, "Alerts"), alertsBox)) : null,
      h("section", { class: "card", "aria-labelledby": "recent-title" },
        h("h2", { id: "recent-title" }, config ? "Recent faxes" : "Your recent faxes"), recentBody)]);
  }

  function identity(server) {
    return `${server.server_name} · node ${server.node_id}`;
  }

  function stat(label, value, detail, href) {
    const body = [h("span", { class: "stat-value" }, String(value)), h("span", { class: "stat-label" }, label),
      detail ? h("span", { class: "stat-detail" }, detail) : null];
    return href ? h("a", { class: "stat", href }, body) : h("div", { class: "stat" }, body);
  }

  function drawStats() {
    if (!figures || !queue) return;
    clear(stats,
      stat("In the queue", figures.queue, `${queue.sending} sending${queue.paused ? " · paused" : ""}`, "#/outgoing"),
      stat("Sent today", figures.sent_since, `${figures.pages_sent_since} pages · ${figures.failed_since} failed`, "#/outgoing/archive"),
      stat("Received today", figures.received_since, `${figures.pages_received_since} pages`, ctx.can("query_in_archive") ? "#/inbox" : null),
      stat("Outgoing archive", figures.archive, "final jobs", "#/outgoing/archive"),
      stat("Inbox", figures.incoming, "received faxes kept", ctx.can("query_in_archive") ? "#/inbox" : null));
  }

  function drawDevices() {
    if (!devices.length) { clear(devicesBox, emptyState("No devices are configured.")); return; }
    clear(devicesBox, devices.map((d) => h("article", { class: "device", dataset: { device: d.name } },
      h("div", { class: "device-head" }, h("strong", {}, d.name), badge(d.state || "unknown", d.state)),
      h("p", { class: "device-text" }, deviceText(d)),
      h("p", { class: "device-meta" }, `${humanize(d.provider)} · ${d.receive_mode.replace("_", " ")}${d.node_id ? ` · ${d.node_id}` : ""}`))));
  }

  function deviceText(d) {
    if (d.activity && (d.state === "sending" || d.state === "dialing")) return d.activity;
    const text = (d.status_text || "").toLowerCase();
    if (!text || text === d.state || text === "available") {
      return { ready: "Idle, waiting for calls", sending: "Sending", receiving: "Receiving a fax", ringing: "Ringing",
        offline: "No node runs this line" }[d.state] || humanize(d.state);
    }
    return d.status_text;
  }

  async function followJob(id, deviceName) {
    const device = devices.find((d) => d.name === deviceName);
    if (!device) return;
    const job = await api.get(`/outgoing/jobs/${id}`);
    const to = job.recipient.name || job.recipient.number;
    device.activity = job.final_time ? "" : `Sending page ${Math.min(job.current_page + 1, job.pages)} of ${job.pages} to ${to}`;
    drawDevices();
  }

  function drawAlerts() {
    const items = [];
    for (const d of devices) {
      if (!WORKING.has(d.state)) items.push(["bad", `Line ${d.name} is not ready: ${d.status_text || humanize(d.state || "no state reported")}`]);
    }
    if (queue && queue.paused) items.push(["warn", "The outgoing queue is paused: nothing is sent until it is resumed."]);
    if (queue && queue.blocked) items.push(["warn", "The outgoing queue is blocked: new faxes are refused."]);
    if (figures && figures.routing_failed) items.push(["bad", `${figures.routing_failed} received fax(es) have a routing method that failed.`]);
    if (figures && figures.routing_retrying) items.push(["warn", `${figures.routing_retrying} received fax(es) are waiting for a routing method that is failing (retried).`]);
    items.push(...liveAlerts);
    if (!items.length) { clear(alertsBox, h("li", { class: "alert alert-ok" }, "Everything is working.")); return; }
    clear(alertsBox, items.map(([tone, text]) => h("li", { class: `alert alert-${tone}` }, text)));
  }

  async function loadDevices() {
    const found = await api.get("/devices");
    devices = found.map((d) => ({ ...d, state: stateOf(d) }));
    drawDevices();
    drawAlerts();
  }

  function stateOf(device) {
    if (device.state) return device.state;
    if (device.status === null) return "offline";
    const text = (device.status_text || "").toLowerCase();
    for (const s of ["sending", "receiving", "ringing", "dialing"]) if (text.includes(s)) return s;
    return { 0x20100000: "ready", 0x20000001: "dialing", 0x20000002: "sending", 0x20000004: "receiving",
      0x20020000: "ringing", 0x20008000: "initializing", 0x20010000: "offline", 0x20000020: "not_ready",
      0x20000800: "failed" }[device.status] || "unknown";
  }

  async function loadCounts() {
    [figures, queue] = await Promise.all([api.get(`/statistics?since=${startOfToday()}`), api.get("/outgoing/queue")]);
    drawStats();
    drawAlerts();
  }

  async function loadRecent() {
    const page = await api.get("/outgoing/jobs?before=2147483647&limit=8");
    const rows = page.jobs.map((job) => h("li", { class: "recent", dataset: { job: job.id } },
      h("a", { href: `#/outgoing/job/${job.id}` }, h("strong", {}, job.recipient.name || job.recipient.number),
        job.recipient.name ? h("span", { class: "muted" }, ` ${job.recipient.number}`) : null),
      h("span", {}, jobStatus(job)),
      h("span", { class: "muted" }, `${job.current_page}/${job.pages} pages`),
      timeTag(job.transmission_end || job.submission_time)));
    clear(recentBody, rows.length ? h("ul", { class: "recent-list" }, rows) : emptyState("No faxes yet. Send one to get started."));
  }

  const loads = [loadRecent()];
  if (config) loads.push(loadDevices(), loadCounts());
  Promise.all(loads).catch((error) => clear(recentBody, h("p", { class: "form-error" }, errorText(error))));

  let countsTimer = null;
  const refreshCounts = () => {
    // Several events arrive together at the end of a call: one read of the counts for the burst.
    if (countsTimer) return;
    countsTimer = setTimeout(() => { countsTimer = null; if (config) loadCounts(); loadRecent(); }, 300);
  };

  const unsubscribe = ctx.subscribe((event) => {
    if (event.topic === "DEVICE_STATUS") {
      const p = event.payload;
      const device = devices.find((d) => d.name === (p.device || p.device_name));
      if (device) {
        device.state = p.state || device.state;
        if (device.state !== "sending" && device.state !== "dialing") device.activity = "";
        device.status_text = p.text ?? device.status_text;
        device.node_id = p.node || device.node_id;
        drawDevices();
        drawAlerts();
      } else if (config) loadDevices();
    } else if (event.topic === "INCOMING_CALL") {
      const p = event.payload;
      const device = devices.find((d) => d.name === p.device);
      if (device && event.kind === "call.ringing") { device.status_text = `Ringing: call from ${p.caller_id || "unknown"}`; drawDevices(); }
    } else if (event.topic === "OUT_QUEUE" || event.topic === "IN_QUEUE" || event.topic === "QUEUE_STATE"
      || event.topic === "OUT_ARCHIVE" || event.topic === "IN_ARCHIVE") {
      if (event.kind.includes("quota")) {
        liveAlerts.push(["bad", `Archive quota: ${humanize(event.kind.split(".").pop())} (${relative(event.at)})`]);
        drawAlerts();
      }
      if (event.topic === "OUT_QUEUE" && event.payload.device && jobId(event) !== null) followJob(jobId(event), event.payload.device).catch(() => {});
      if (jobId(event) !== null || event.topic !== "OUT_QUEUE") refreshCounts();
    }
  });
  return { dispose: () => { unsubscribe(); clearTimeout(countsTimer); } };
}
