// Inbox / incoming archive: received faxes with page-1 thumbnails, a page viewer, PDF, who sent it, how it was routed.
import * as api from "../api.js";
import { jobId } from "../live.js";
import { h, clear, pageHeader, timeTag, badge, emptyState, button, toast, errorText, field, table, humanize, confirmDialog, tableWrap } from "../ui.js";

export default function inbox(ctx) {
  const [view] = ctx.param.split("/");
  if (view === "call") return simulate(ctx);
  if (view && /^\d+$/.test(view)) return viewer(ctx, Number(view));
  return list(ctx);
}

function sender(job) {
  return job.tsid || job.caller_name || job.caller_id || "Unknown sender";
}

function list(ctx) {
  const grid = h("ul", { class: "fax-grid", "aria-label": "Received faxes" });
  const more = h("div", { class: "more" });
  const call = ctx.can("manage_config") ? h("a", { class: "btn btn-secondary", href: "#/inbox/call" }, "Simulate an incoming fax") : null;
  ctx.main.append(pageHeader("Inbox", "Received faxes, newest first", call), grid, more);
  let cursor = null;
  const cards = new Map();

  function card(job) {
    const thumb = job.has_tiff && job.pages
      ? h("img", { src: api.url(`/incoming/jobs/${job.id}/pages/1.png?width=240`), alt: `First page of fax ${job.id} from ${sender(job)}`, loading: "lazy", width: 240, height: 320 })
      : h("div", { class: "no-thumb" }, "No pages");
    return h("li", { class: "fax-card", dataset: { fax: job.id } },
      h("a", { href: `#/inbox/${job.id}`, class: "fax-link", "aria-label": `Fax ${job.id} from ${sender(job)}, ${job.pages} pages` }, thumb),
      h("div", { class: "fax-info" },
        h("div", { class: "fax-title" }, h("strong", {}, sender(job)), badge(job.status_names[0] || "unknown", (job.status_names[0] || "").toLowerCase())),
        h("div", { class: "muted small" }, job.caller_id ? `Caller ID ${job.caller_id}` : "No caller ID", job.routing_information ? ` · to ${job.routing_information}` : ""),
        h("div", { class: "small" }, timeTag(job.transmission_start), ` · ${job.pages} page${job.pages === 1 ? "" : "s"} · ${job.device_name}`),
        h("div", { class: "muted small routing-line" }, job.routing_status || "")));
  }

  function put(job, first) {
    const node = card(job);
    const old = cards.get(job.id);
    if (old) old.replaceWith(node);
    else if (first) grid.prepend(node);
    else grid.append(node);
    cards.set(job.id, node);
    grid.querySelector(".empty")?.remove();
  }

  async function load() {
    const page = await api.get(`/incoming/jobs?limit=48${cursor ? `&before=${cursor}` : ""}`);
    for (const job of page.jobs) put(job, false);
    cursor = page.next_before;
    clear(more, cursor ? button("Show older faxes", () => load().catch((e) => toast(errorText(e), "bad"))) : null);
    if (!cards.size) clear(grid, h("li", { class: "empty" }, "No faxes have arrived yet."));
  }
  load().catch((error) => clear(grid, h("li", { class: "form-error" }, errorText(error))));

  const unsubscribe = ctx.subscribe(async (event) => {
    if (event.topic !== "IN_QUEUE" && event.topic !== "IN_ARCHIVE") return;
    const id = jobId(event);
    if (id === null) return;
    try { put(await api.get(`/incoming/jobs/${id}`), true); } catch { cards.get(id)?.remove(); cards.delete(id); }
  });
  return { dispose: unsubscribe };
}

function viewer(ctx, id) {
  const body = h("div");
  ctx.main.append(pageHeader(`Fax #${id}`, "", h("a", { class: "btn btn-ghost", href: "#/inbox" }, "← Inbox")), body);
  let page = 1;
  let pages = 0;
  const image = h("img", { class: "page-image", alt: "" });
  const counter = h("span", { class: "pager-count", "aria-live": "polite" });
  const prev = button("‹ Previous", () => show(page - 1), { "aria-label": "Previous page" });
  const next = button("Next ›", () => show(page + 1), { "aria-label": "Next page" });

  function show(number) {
    if (number < 1 || number > pages) return;
    page = number;
    image.src = api.url(`/incoming/jobs/${id}/pages/${page}.png?width=1240`);
    image.alt = `Page ${page} of ${pages} of fax ${id}`;
    counter.textContent = `Page ${page} of ${pages}`;
    prev.disabled = page === 1;
    next.disabled = page === pages;
  }

  async function draw() {
    const [job, routing] = await Promise.all([api.get(`/incoming/jobs/${id}`), api.get(`/incoming/jobs/${id}/routing`)]);
    pages = job.pages;
    const facts = [
      ["From (TSID)", job.tsid || "—"], ["Caller ID", job.caller_id || "—"], ["Caller name", job.caller_name || "—"],
      ["Dialled number (DID)", job.routing_information || "—"], ["Subaddress", job.subaddress || "—"],
      ["Received", timeTag(job.transmission_start)], ["Line", job.device_name], ["Our CSID", job.csid || "—"],
      ["Pages", String(job.pages)], ["Result", humanize(job.extended_status)],
    ];
    const manage = ctx.can("manage_in_archive");
    const actions = h("div", { class: "detail-actions" },
      job.has_tiff ? h("a", { class: "btn btn-primary", href: api.url(`/incoming/jobs/${id}/pdf`), download: `fax-${id}.pdf` }, "Download PDF") : null,
      job.has_tiff ? h("a", { class: "btn btn-secondary", href: api.url(`/incoming/jobs/${id}/tiff`), download: `fax-${id}.tif` }, "TIFF") : null,
      manage && job.has_tiff ? button("Reroute", async () => {
        try { await api.post(`/incoming/jobs/${id}/reroute`); toast(`Fax ${id} will be routed again with the current rules.`, "ok"); await draw(); }
        catch (error) { toast(errorText(error), "bad"); }
      }) : null,
      manage ? button("Delete", async () => {
        if (!(await confirmDialog("Delete this fax?", `Fax ${id} and its pages are removed from the archive. Copies already delivered stay where they went.`, "Delete"))) return;
        try { await api.del(`/incoming/jobs/${id}`); toast(`Fax ${id} deleted.`, "ok"); ctx.navigate("#/inbox"); }
        catch (error) { toast(errorText(error), "bad"); }
      }, { kind: "danger" }) : null);
    const deliveries = routing.deliveries.length ? table([
      { title: "Rule", cell: (d) => d.rule || "—" },
      { title: "Method", cell: (d) => humanize(d.method) },
      { title: "State", cell: (d) => badge(d.state, d.state) },
      { title: "Tries", class: "num", cell: (d) => String(d.attempts) },
      { title: "Detail", cell: (d) => d.last_error || d.detail || "—" },
    ], routing.deliveries, { caption: "Deliveries" }) : emptyState("Not routed yet.");
    clear(body,
      h("div", { class: "viewer-layout" },
        h("section", { class: "card viewer", "aria-labelledby": "viewer-title" },
          h("h2", { id: "viewer-title", class: "sr-only" }, "Pages"),
          pages ? [h("div", { class: "pager" }, prev, counter, next), h("div", { class: "page-frame" }, image)] : emptyState("This fax has no pages.")),
        h("div", {},
          h("section", { class: "card" }, actions, h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
          h("section", { class: "card", "aria-labelledby": "routing-title" }, h("h2", { id: "routing-title" }, "How it was routed"),
            h("p", {}, routing.routing_status || "—"),
            routing.why ? h("p", { class: "muted" }, `Why: ${routing.why}`) : null,
            tableWrap("Deliveries", deliveries)))));
    if (pages) show(Math.min(page, pages));
  }

  const keys = (event) => {
    if (event.target.closest("input, textarea, select")) return;
    if (event.key === "ArrowRight" || event.key === "PageDown") show(page + 1);
    if (event.key === "ArrowLeft" || event.key === "PageUp") show(page - 1);
  };
  document.addEventListener("keydown", keys);
  draw().catch((error) => clear(body, h("p", { class: "form-error" }, errorText(error))));
  const unsubscribe = ctx.subscribe((event) => {
    if ((event.topic === "IN_QUEUE" || event.topic === "IN_ARCHIVE") && jobId(event) === id) draw().catch(() => {});
  });
  return { dispose: () => { unsubscribe(); document.removeEventListener("keydown", keys); } };
}

function simulate(ctx) {
  const body = h("section", { class: "card narrow" });
  ctx.main.append(pageHeader("Simulate an incoming fax", "A remote machine on the simulated telephone network calls one of faxgate's lines",
    h("a", { class: "btn btn-ghost", href: "#/inbox" }, "← Inbox")), body);
  api.get("/simulation").then((sim) => {
    if (!sim.running) { clear(body, emptyState("This node runs no simulated network.")); return; }
    const caller = h("select", { name: "caller" }, sim.remotes.map((r) => h("option", { value: r.number }, `${r.number} · ${r.ident}`)));
    const to = h("select", { name: "to" }, h("option", { value: "" }, "Any idle line"),
      Object.entries(sim.lines).map(([name, number]) => h("option", { value: number }, `${number} · ${name}`)));
    const pages = h("input", { type: "number", name: "pages", min: 1, max: 10, value: 2 });
    const form = h("form", { onsubmit: async (event) => {
      event.preventDefault();
      try {
        const placed = await api.post("/simulation/calls", { caller: caller.value, to: to.value, pages: Number(pages.value) });
        toast(`${placed.caller} is calling ${placed.to} with ${placed.pages} page(s); the fax appears in the inbox when the call ends.`, "ok");
        ctx.navigate("#/inbox");
      } catch (error) { toast(errorText(error), "bad"); }
    } }, field("Calling machine", caller), field("faxgate line", to), field("Pages", pages),
    h("button", { type: "submit", class: "btn btn-primary" }, "Place the call"));
    clear(body, form);
  }).catch((error) => clear(body, h("p", { class: "form-error" }, errorText(error))));
}
