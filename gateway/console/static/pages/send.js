// Send a fax: recipients with names, files by drag and drop, a cover page with its fields, priority, schedule;
// then the pages as rendered, and the job's status live.
import * as api from "../api.js";
import { jobId } from "../live.js";
import { h, clear, pageHeader, field, button, toast, errorText, jobStatus } from "../ui.js";

const PRIORITY_RIGHT = { low: ["submit_low", "submit_normal", "submit_high"], normal: ["submit_normal", "submit_high"], high: ["submit_high"] };

export default function send(ctx) {
  const recipients = h("div", { class: "recipients" });
  const files = [];
  const fileList = h("ul", { class: "file-list", "aria-live": "polite" });
  const fileInput = h("input", { type: "file", multiple: true, id: "file-input", class: "sr-only",
    accept: ".pdf,.tif,.tiff,.png,.jpg,.jpeg,.txt,.doc,.docx,.odt,.rtf,.html", onchange: () => { addFiles(fileInput.files); fileInput.value = ""; } });
  const drop = h("div", { class: "dropzone", id: "dropzone" },
    h("p", {}, h("strong", {}, "Drop files here"), " or ",
      h("label", { for: "file-input", class: "link-like", tabindex: "0",
        onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); fileInput.click(); } } }, "choose files")),
    h("p", { class: "muted small" }, "PDF, TIFF, images, text and office documents"), fileInput, fileList);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); addFiles(e.dataTransfer.files); });

  const cover = h("input", { type: "checkbox", id: "cover", name: "cover", onchange: () => { coverFields.hidden = !cover.checked; } });
  const subject = h("input", { name: "subject", maxlength: 200 });
  const note = h("textarea", { name: "note", rows: 4, maxlength: 4000 });
  const coverFields = h("div", { class: "cover-fields", hidden: true }, field("Subject", subject), field("Note on the cover page", note,
    "The cover page also shows each recipient's name and number, and you as the sender."));
  const allowed = Object.keys(PRIORITY_RIGHT).filter((p) => PRIORITY_RIGHT[p].some((r) => ctx.can(r)));
  const priority = h("select", { name: "priority" }, allowed.map((p) => h("option", { value: p, selected: p === (allowed.includes("normal") ? "normal" : allowed[0]) }, p[0].toUpperCase() + p.slice(1))));
  const schedule = h("select", { name: "schedule", onchange: () => { sendAt.closest(".field").hidden = schedule.value !== "specific_time"; } },
    h("option", { value: "now" }, "As soon as possible"), h("option", { value: "discount_period" }, "In the discount period"), h("option", { value: "specific_time" }, "At a time…"));
  const sendAt = h("input", { type: "datetime-local", name: "send_at" });
  const receipt = h("input", { type: "email", name: "receipt_address", autocomplete: "email" });
  const error = h("p", { class: "form-error", role: "alert" });
  const result = h("div");
  const submitButton = h("button", { type: "submit", class: "btn btn-primary" }, "Send fax");
  const previewBox = h("section", { class: "card", "aria-labelledby": "preview-title", hidden: true },
    h("h2", { id: "preview-title" }, "Preview"), h("p", { class: "muted", id: "preview-count" }), h("div", { class: "thumbs" }));
  const previewButton = button("Preview pages", showPreview, { kind: "secondary" });

  const form = h("form", { class: "send-form", onsubmit: submit, novalidate: true },
    h("section", { class: "card", "aria-labelledby": "to-title" }, h("h2", { id: "to-title" }, "Recipients"), recipients,
      button("Add recipient", () => addRecipient(), { icon: "+" })),
    h("section", { class: "card", "aria-labelledby": "doc-title" }, h("h2", { id: "doc-title" }, "Documents"), drop),
    h("section", { class: "card", "aria-labelledby": "cover-title" }, h("h2", { id: "cover-title" }, "Cover page"),
      h("div", { class: "check" }, cover, h("label", { for: "cover" }, "Add a cover page")), coverFields),
    h("section", { class: "card", "aria-labelledby": "opt-title" }, h("h2", { id: "opt-title" }, "Options"),
      h("div", { class: "grid-3" }, field("Priority", priority), field("When", schedule), field("Send at", sendAt)),
      field("Receipt to (e-mail)", receipt, "Leave empty for no delivery receipt.")),
    error, previewBox, h("div", { class: "form-actions" }, previewButton, submitButton));
  sendAt.closest(".field").hidden = true;
  ctx.main.append(pageHeader("Send a fax", "Recipients, documents and a cover page; preview the pages before you send"), form, result);
  addRecipient();

  function addRecipient() {
    const index = recipients.children.length + 1;
    const name = h("input", { name: "name", autocomplete: "off", placeholder: "e.g. Ada Lovelace" });
    const number = h("input", { name: "number", inputmode: "tel", autocomplete: "off", required: true, placeholder: "e.g. 5550100" });
    const row = h("div", { class: "recipient" }, field(`Name ${index}`, name), field(`Fax number ${index}`, number),
      button("Remove", () => { if (recipients.children.length > 1) row.remove(); }, { kind: "ghost", "aria-label": `Remove recipient ${index}` }));
    recipients.append(row);
    if (index > 1) name.focus();
  }

  function addFiles(list) {
    for (const file of list) files.push(file);
    drawFiles();
  }

  function drawFiles() {
    clear(fileList, files.map((file, i) => h("li", {}, h("span", {}, file.name), h("span", { class: "muted small" }, ` ${Math.ceil(file.size / 1024)} KB`),
      button("Remove", () => { files.splice(i, 1); drawFiles(); }, { kind: "ghost", "aria-label": `Remove ${file.name}`, class: "btn btn-sm" }))));
  }

  function recipientList() {
    return [...recipients.querySelectorAll(".recipient")].map((row) => ({
      name: row.querySelector("[name=name]").value.trim(), number: row.querySelector("[name=number]").value.trim() })).filter((r) => r.number);
  }

  function documentData(list) {
    const data = new FormData();
    data.append("recipients", JSON.stringify(list));
    for (const file of files) data.append("files", file, file.name);
    data.append("cover", cover.checked ? "true" : "false");
    data.append("subject", subject.value);
    data.append("note", note.value);
    return data;
  }

  async function showPreview() {
    error.textContent = "";
    if (!files.length && !(cover.checked && note.value.trim())) { error.textContent = "Add a document, or a cover page with a note."; return; }
    previewButton.disabled = true;
    previewButton.textContent = "Rendering…";
    try {
      const answer = await api.postForm("/outgoing/preview", documentData(recipientList()));
      previewBox.hidden = false;
      previewBox.querySelector("#preview-count").textContent = `${answer.pages} page${answer.pages === 1 ? "" : "s"} as the first recipient will get them${answer.pages > answer.images.length ? ` (first ${answer.images.length} shown)` : ""}.`;
      clear(previewBox.querySelector(".thumbs"), answer.images.map((src, i) => h("figure", { class: "thumb" },
        h("img", { src, alt: `Preview of page ${i + 1}`, width: 220 }), h("figcaption", {}, `Page ${i + 1}`))));
    } catch (failure) {
      error.textContent = errorText(failure);
    } finally {
      previewButton.disabled = false;
      previewButton.textContent = "Preview pages";
    }
  }

  async function submit(event) {
    event.preventDefault();
    error.textContent = "";
    const list = recipientList();
    if (!list.length) { error.textContent = "Give at least one fax number."; return; }
    if (!files.length && !(cover.checked && note.value.trim())) { error.textContent = "Add a document, or a cover page with a note."; return; }
    const data = documentData(list);
    data.append("priority", priority.value);
    data.append("schedule", schedule.value);
    if (schedule.value === "specific_time") {
      if (!sendAt.value) { error.textContent = "Choose when to send."; return; }
      data.append("send_at", new Date(sendAt.value).toISOString());
    }
    if (receipt.value) data.append("receipt_address", receipt.value);
    submitButton.disabled = true;
    try {
      const done = await api.postForm("/outgoing/submit", data);
      toast(`Fax queued for ${done.recipients.length} recipient(s).`, "ok");
      form.hidden = true;
      follow(done);
    } catch (failure) {
      error.textContent = errorText(failure);
    } finally { submitButton.disabled = false; }
  }

  let unsubscribe = () => {};
  function follow(done) {
    const rows = h("ul", { class: "sent-jobs" });
    const previews = h("div", { class: "thumbs" });
    clear(result, h("section", { class: "card", "aria-labelledby": "sent-title" },
      h("h2", { id: "sent-title" }, "Your fax is on its way"),
      h("p", { class: "muted" }, `Submission ${done.submission_id}`), rows,
      h("h3", {}, "Pages as they are sent"), previews,
      h("div", { class: "form-actions" }, button("Send another fax", () => ctx.navigate(`#/send/${Date.now()}`), { kind: "secondary" }),
        h("a", { class: "btn btn-ghost", href: "#/outgoing" }, "Open the queue"))));
    clear(rows, h("li", { class: "muted" }, "Rendering the pages…"));
    let previewed = false;
    const seen = new Map();
    async function refresh() {
      const page = await api.get(`/outgoing/jobs?submission=${encodeURIComponent(done.submission_id)}`);
      if (!page.jobs.length) return;
      for (const job of page.jobs) seen.set(job.id, job);
      clear(rows, [...seen.values()].map((job) => h("li", { dataset: { job: job.id } },
        h("a", { href: `#/outgoing/job/${job.id}` }, `#${job.id}`), " ",
        h("strong", {}, job.recipient.name || job.recipient.number), " ",
        h("span", { class: "job-status" }, jobStatus(job)), " ",
        h("span", { class: "muted" }, `${job.current_page}/${job.pages} pages`))));
      const first = page.jobs[0];
      if (!previewed && first.pages) {
        previewed = true;
        for (let n = 1; n <= Math.min(first.pages, 12); n += 1) {
          previews.append(h("a", { href: api.url(`/outgoing/jobs/${first.id}/pages/${n}.png`), target: "_blank", class: "thumb" },
            h("img", { src: api.url(`/outgoing/jobs/${first.id}/pages/${n}.png?width=220`), alt: `Page ${n} as sent`, width: 220 }), h("span", {}, `Page ${n}`)));
        }
      }
    }
    refresh().catch(() => {});
    unsubscribe = ctx.subscribe((event) => {
      if (event.topic !== "OUT_QUEUE") return;
      const p = event.payload || {};
      if (p.submission === done.submission_id || p.submission_id === done.submission_id || seen.has(jobId(event)) || event.kind === "job.added") refresh().catch(() => {});
    });
  }
  return { dispose: () => unsubscribe() };
}
