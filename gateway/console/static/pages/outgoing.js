// Outgoing queue and archive: jobs with status, pages, tries, next try; pause, resume, cancel, restart; job detail.
import * as api from "../api.js";
import { jobId } from "../live.js";
import { h, clear, pageHeader, timeTag, jobStatus, emptyState, button, toast, errorText, table, tableRow, relative, humanize, confirmDialog, tableWrap } from "../ui.js";

const PAGE = 100;
const ACTIONS = [["pause", "Pause"], ["resume", "Resume"], ["cancel", "Cancel"], ["restart", "Restart"]];

export default function outgoing(ctx) {
  const [view = "queue", id] = ctx.param.split("/");
  if (view === "job" && id) return detail(ctx, Number(id));
  return list(ctx, view === "archive" ? "archive" : "queue");
}

function actionsFor(job, refresh) {
  const wrap = h("div", { class: "row-actions" });
  for (const [op, label] of ACTIONS) {
    if (!job.available_operations.includes(op)) continue;
    wrap.append(button(label, async () => {
      if (op === "cancel" && !(await confirmDialog("Cancel this fax?", `Job ${job.id} to ${job.recipient.number} will not be sent.`, "Cancel fax"))) return;
      try {
        const changed = await api.post(`/outgoing/jobs/${job.id}/${op}`);
        toast(`Job ${job.id}: ${humanize(op)}d`, "ok");
        refresh(changed);
      } catch (error) { toast(errorText(error), "bad"); }
    }, { kind: op === "cancel" ? "danger-ghost" : "ghost", "aria-label": `${label} job ${job.id}`, class: "btn btn-sm" }));
  }
  return wrap;
}

// The transmission report of a job, as the e-mail receipt attaches it.
function withReceipt(wrap, job) {
  wrap.append(h("a", { class: "btn btn-ghost btn-sm", href: api.url(`/outgoing/jobs/${job.id}/receipt`), download: `receipt-${job.id}.pdf`,
    "aria-label": `Receipt (PDF) of job ${job.id}` }, "Receipt (PDF)"));
  return wrap;
}

function list(ctx, view) {
  const archive = view === "archive";
  const mine = !ctx.can("query_jobs");
  const queueBox = h("div", { class: "queue-state" });
  const tableBox = tableWrap(archive ? "Archived jobs" : "Queued jobs");
  const more = h("div", { class: "more" });
  const tabs = h("nav", { class: "tabs", "aria-label": "Outgoing" },
    h("a", { href: "#/outgoing", "aria-current": archive ? null : "page" }, "Queue"),
    h("a", { href: "#/outgoing/archive", "aria-current": archive ? "page" : null }, "Archive"));
  ctx.main.append(pageHeader(archive ? "Sent and failed faxes" : "Outgoing queue",
    mine ? "Your own faxes" : "Every sender's faxes", queueBox), tabs, h("section", { class: "card flush" }, tableBox, more));

  const rows = new Map();
  let cursor = null;
  let tbody = null;
  const columns = [
    { title: "Job", class: "num", cell: (j) => h("a", { href: `#/outgoing/job/${j.id}` }, `#${j.id}`) },
    { title: "Recipient", cell: (j) => [h("strong", {}, j.recipient.name || j.recipient.number), j.recipient.name ? h("div", { class: "muted" }, j.recipient.number) : null] },
    { title: "Status", cell: (j) => [h("div", {}, jobStatus(j)), j.extended_status !== "none" ? h("div", { class: "muted small" }, j.extended_status_text || humanize(j.extended_status)) : null] },
    { title: "Pages", class: "num", cell: (j) => `${j.current_page}/${j.pages}` },
    { title: "Tries", class: "num", cell: (j) => String(j.retries) },
    archive ? { title: "Finished", cell: (j) => timeTag(j.final_time || j.transmission_end) }
      : { title: "Next try", cell: (j) => j.status_names.includes("INPROGRESS") ? h("span", { class: "muted" }, "now") : [timeTag(j.next_attempt_time), h("div", { class: "muted small" }, relative(j.next_attempt_time))] },
    { title: "Submitted", cell: (j) => timeTag(j.submission_time) },
    { title: "Actions", class: "actions-cell", cell: (j) => archive ? withReceipt(actionsFor(j, update), j) : actionsFor(j, update) },
  ];

  function update(job) {
    const final = job.final_time !== null;
    const existing = rows.get(job.id);
    if (final !== archive) { if (existing) { existing.remove(); rows.delete(job.id); } return; }
    const row = tableRow(columns, job, (j) => j.id);
    if (existing) existing.replaceWith(row);
    else if (tbody) { if (archive) tbody.prepend(row); else tbody.append(row); }
    rows.set(job.id, row);
  }

  async function load() {
    const query = archive ? `state=archive&limit=${PAGE}&before=${cursor ?? 2147483647}` : `state=queue&limit=${PAGE}${cursor ? `&after=${cursor}` : ""}`;
    const page = await api.get(`/outgoing/jobs?${query}`);
    if (!tbody) {
      const node = table(columns, [], { caption: archive ? "Archived jobs" : "Queued jobs" });
      tbody = node.querySelector("tbody");
      clear(tableBox, node);
    }
    for (const job of page.jobs) update(job);
    cursor = archive ? page.next_before : page.next_after;
    clear(more, cursor ? button("Show more", () => load().catch((e) => toast(errorText(e), "bad"))) : null);
    if (!rows.size) clear(tableBox, emptyState(archive ? "No sent or failed faxes yet." : "The queue is empty."));
  }

  async function loadQueue() {
    if (!ctx.can("query_config")) return;
    const state = await api.get("/outgoing/queue");
    const manage = ctx.can("manage_config");
    clear(queueBox,
      h("span", { class: `badge ${state.paused ? "badge-warn" : "badge-ok"}`, id: "queue-state" }, state.paused ? "Queue paused" : "Queue running"),
      manage ? button(state.paused ? "Resume queue" : "Pause queue", async () => {
        try {
          await api.put("/outgoing/queue", { paused: !state.paused });
          toast(state.paused ? "The queue is running again." : "The queue is paused.", "ok");
          await loadQueue();
        } catch (error) { toast(errorText(error), "bad"); }
      }, { kind: state.paused ? "primary" : "secondary" }) : null);
  }

  load().catch((error) => clear(tableBox, h("p", { class: "form-error" }, errorText(error))));
  loadQueue().catch(() => {});

  const unsubscribe = ctx.subscribe(async (event) => {
    if (event.topic === "QUEUE_STATE") { loadQueue().catch(() => {}); return; }
    if (event.topic !== "OUT_QUEUE" && event.topic !== "OUT_ARCHIVE") return;
    const id = jobId(event);
    if (id === null) return;
    try {
      if (!tbody) { tbody = null; await load(); return; }
      update(await api.get(`/outgoing/jobs/${id}`));
      if (tableBox.querySelector(".empty")) { tbody = null; cursor = null; rows.clear(); await load(); }
    } catch { /* deleted, or not ours */ }
  });
  return { dispose: unsubscribe };
}

function canSubmit(ctx) {
  return ["submit_low", "submit_normal", "submit_high"].some((right) => ctx.can(right));
}

// Resend: the job's pages exactly as stored (cover page included) go out again as a new fax to the same recipient.
async function resend(ctx, job) {
  try {
    const reply = await api.call("GET", `/outgoing/jobs/${job.id}/tiff`, undefined, { raw: true });
    const data = new FormData();
    data.append("recipients", JSON.stringify([{ number: job.recipient.number, name: job.recipient.name }]));
    data.append("files", await reply.blob(), `job-${job.id}.tif`);
    data.append("subject", `Resent job ${job.id}`);
    const done = await api.postForm("/outgoing/submit", data);
    toast(`Job ${job.id} is sent again (submission ${done.submission_id.slice(0, 8)}).`, "ok");
    ctx.navigate("#/outgoing");
  } catch (error) { toast(errorText(error), "bad"); }
}

function detail(ctx, id) {
  const body = h("div");
  ctx.main.append(pageHeader(`Job #${id}`, "", h("a", { class: "btn btn-ghost", href: "#/outgoing" }, "← Queue")), body);

  async function draw() {
    const job = await api.get(`/outgoing/jobs/${id}`);
    ctx.main.querySelector(".subtitle")?.remove();
    const facts = [
      ["Recipient", `${job.recipient.name ? `${job.recipient.name}, ` : ""}${job.recipient.number}`],
      ["Status", jobStatus(job)], ["Result", job.extended_status_text || humanize(job.extended_status)],
      ["Pages", `${job.current_page} of ${job.pages} confirmed`], ["Tries", String(job.retries)],
      ["Priority", humanize(job.priority)], ["Submitted", timeTag(job.submission_time)],
      ["Next try", job.final_time ? "—" : timeTag(job.next_attempt_time)], ["Finished", timeTag(job.final_time)],
      ["Device", job.device_name || "—"], ["Remote CSID", job.csid || "—"], ["Our TSID", job.tsid || "—"],
    ];
    const attempts = job.attempts.length ? table([
      { title: "Started", cell: (a) => timeTag(a.started_at) },
      { title: "Line", cell: (a) => a.device_name },
      { title: "Result", cell: (a) => [humanize(a.result), a.reason ? h("div", { class: "muted small" }, a.reason) : null] },
      { title: "Pages", class: "num", cell: (a) => String(a.pages_sent) },
      { title: "Rate", class: "num", cell: (a) => a.bit_rate ? `${a.bit_rate} bit/s` : "—" },
      { title: "ECM", cell: (a) => a.ecm ? "yes" : "no" },
      { title: "Remote CSID", cell: (a) => a.remote_csid || "—" },
    ], job.attempts, { caption: "Calls made" }) : emptyState("No call has been made yet.");
    const previews = h("div", { class: "thumbs" });
    const log = h("pre", { class: "log", tabindex: "0", "aria-label": "Session log" });
    clear(body,
      h("section", { class: "card" }, h("div", { class: "detail-actions" }, actionsFor(job, () => draw()),
        job.pages ? h("a", { class: "btn btn-secondary btn-sm", href: api.url(`/outgoing/jobs/${id}/pdf`), download: `job-${id}.pdf` }, "Download PDF") : null,
        job.pages ? h("a", { class: "btn btn-ghost btn-sm", href: api.url(`/outgoing/jobs/${id}/tiff`), download: `job-${id}.tif` }, "TIFF") : null,
        h("a", { class: "btn btn-secondary btn-sm", href: api.url(`/outgoing/jobs/${id}/receipt`), download: `receipt-${id}.pdf` }, "Receipt (PDF)"),
        job.pages && canSubmit(ctx) ? button("Send again", () => resend(ctx, job), { kind: "ghost", class: "btn btn-sm" }) : null),
        h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
      h("section", { class: "card", "aria-labelledby": "calls-title" }, h("h2", { id: "calls-title" }, "Calls"), tableWrap("Calls made", attempts)),
      job.attempts.length ? h("section", { class: "card", "aria-labelledby": "log-title" }, h("h2", { id: "log-title" }, "Session log"),
        h("details", { ontoggle: (e) => { if (e.target.open && !log.textContent) api.call("GET", `/outgoing/jobs/${id}/log`, undefined, { raw: true }).then((r) => r.text()).then((t) => { log.textContent = t; }); } },
          h("summary", {}, "Show the T.30 session log of every call"), log)) : null,
      h("section", { class: "card", "aria-labelledby": "pages-title" }, h("h2", { id: "pages-title" }, "Pages as sent"), previews));
    if (!job.pages) previews.append(emptyState("The document is being rendered."));
    for (let page = 1; page <= Math.min(job.pages, 12); page += 1) {
      previews.append(h("a", { href: api.url(`/outgoing/jobs/${id}/pages/${page}.png`), target: "_blank", class: "thumb" },
        h("img", { src: api.url(`/outgoing/jobs/${id}/pages/${page}.png?width=220`), alt: `Page ${page} of job ${id}`, loading: "lazy", width: 220 }),
        h("span", {}, `Page ${page}`)));
    }
  }
  draw().catch((error) => clear(body, h("p", { class: "form-error" }, errorText(error))));
  const unsubscribe = ctx.subscribe((event) => {
    if ((event.topic === "OUT_QUEUE" || event.topic === "OUT_ARCHIVE") && jobId(event) === id) draw().catch(() => {});
  });
  return { dispose: unsubscribe };
}
