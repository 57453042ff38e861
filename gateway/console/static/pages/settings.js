// Server settings: outgoing queue (retries, delay, discount window, branding), the two archives, receipts and
// logging, through /api/v1/config/*; editable with MANAGE_CONFIG, and refreshed by CONFIG events.
import * as api from "../api.js";
import { h, clear, pageHeader, errorText } from "../ui.js";
import { settingsForm } from "../forms.js";

const MB = 1024 * 1024;
const DAY = 86400;
const LEVELS = [["none", "None"], ["min", "Minimum"], ["med", "Medium"], ["max", "Maximum"]];

const QUEUE = [
  { key: "retries", label: "Retries", type: "number", min: 0, max: 100, step: 1, integer: true, hint: "Calls again after a failed one (results without a row of their own below)" },
  { key: "retry_delay_s", label: "Minutes between retries", type: "number", min: 0, scale: 60, aliases: ["retry_delay"] },
  { key: "discount_rate_start", label: "Discount period starts", type: "time", aliases: ["discount_start"] },
  { key: "discount_rate_end", label: "Discount period ends", type: "time", aliases: ["discount_end"] },
  { key: "age_limit_s", label: "Keep failed faxes (days)", type: "number", min: 0, scale: DAY, hint: "0 keeps them until deleted", aliases: ["age_limit"] },
  { key: "timezone", label: "Time zone", list: "time-zones", hint: "For the discount period and times on faxes" },
  { key: "max_pages", label: "Most pages per fax", type: "number", min: 1, step: 1, integer: true },
  { key: "max_recipients", label: "Most recipients per fax", type: "number", min: 1, step: 1, integer: true },
  { key: "branding", label: "Print a header line (branding) on every page", type: "check" },
  { key: "use_device_tsid", label: "Use the line's TSID in the header", type: "check" },
  { key: "branding_format", label: "Header line", wide: true, maxlength: 500,
    hint: "Columns split by |; {sent} {date} {time} {tsid} {sender} {recipient} {recipient_name} {page} {pages}" },
];

const ARCHIVE = [
  { key: "use_archive", label: "Keep a copy in the archive", type: "check", aliases: ["enabled"] },
  { key: "size_quota_warning", label: "Warn when the archive grows too large", type: "check", aliases: ["quota_warning"] },
  { key: "archive_folder", label: "Archive folder", wide: true, hint: "An absolute path; empty for the folder under the data directory", aliases: ["folder"] },
  { key: "folder_mode", label: "Folder permissions (octal)", maxlength: 4, hint: "Like 0700: faxgate keeps read, write and search" },
  { key: "age_limit_s", label: "Keep faxes (days)", type: "number", min: 0, scale: DAY, hint: "0 keeps them until deleted", aliases: ["age_limit"] },
  { key: "high_quota_water_mark", label: "Warn above (MB)", type: "number", min: 0, scale: MB, integer: true, aliases: ["high_watermark"] },
  { key: "low_quota_water_mark", label: "Clear the warning below (MB)", type: "number", min: 0, scale: MB, integer: true, aliases: ["low_watermark"] },
];

const RECEIPTS = [
  { key: "enabled", label: "Send delivery receipts by e-mail", type: "check" },
  { key: "attach_fax", label: "Attach the fax to the receipt", type: "check" },
  { key: "group_broadcast_receipts", label: "One receipt for a whole broadcast", type: "check", aliases: ["group_broadcast"] },
  { key: "use_for_inbound_routing", label: "Use this server for faxes routed by e-mail", type: "check" },
  { key: "smtp_server", label: "SMTP server", maxlength: 255, aliases: ["smtp_host"] },
  { key: "smtp_port", label: "Port", type: "number", min: 1, max: 65535, step: 1, integer: true },
  { key: "security", label: "Connection security", type: "select", options: [["none", "None"], ["starttls", "STARTTLS"], ["tls", "TLS"]] },
  { key: "smtp_sender", label: "Sender address", maxlength: 320, aliases: ["sender"] },
  { key: "smtp_user", label: "User name", maxlength: 320, aliases: ["username"] },
  { key: "smtp_password", label: "Password", type: "password", writeOnly: true, maxlength: 1000, aliases: ["password"] },
];

const LOGGING = [
  { key: "init_events_level", label: "Initialization and shutdown", type: "select", options: LEVELS },
  { key: "outbound_events_level", label: "Outgoing faxes", type: "select", options: LEVELS },
  { key: "inbound_events_level", label: "Incoming faxes", type: "select", options: LEVELS },
  { key: "general_events_level", label: "General", type: "select", options: LEVELS },
  { key: "format", label: "Log line format", type: "select", options: [["text", "Text"], ["json", "JSON"]] },
];

// Each form: its API path and the CONFIG areas whose change it shows.
const FORMS = [
  { id: "outgoing-queue", title: "Outgoing queue", path: "/config/outgoing-queue", fields: QUEUE, areas: ["outbox", "outbound"],
    intro: "How faxes are retried and when cheap-rate faxes go out; applies to every node at once." },
  { id: "outgoing-archive", title: "Outgoing archive", path: "/config/outgoing-archive", fields: ARCHIVE, areas: ["archive.outgoing"],
    intro: "Sent and failed faxes once they are final." },
  { id: "incoming-archive", title: "Incoming archive", path: "/config/incoming-archive", fields: ARCHIVE, areas: ["archive.incoming"],
    intro: "Received faxes once they are routed." },
  { id: "receipts", title: "Receipts", path: "/config/receipts", fields: RECEIPTS, areas: ["receipts"],
    intro: "The SMTP server that carries delivery receipts. The password is never shown; leave it empty to keep it." },
  { id: "logging", title: "Logging", path: "/config/logging", fields: LOGGING, areas: ["logging"],
    intro: "How much each kind of event writes to the log." },
];

function retryTable(rules) {
  const rows = Object.entries(rules || {});
  if (!rows.length) return null;
  return h("details", { class: "retry-rules" }, h("summary", {}, "Retries by call result"),
    h("table", { class: "table compact" }, h("caption", { class: "sr-only" }, "Retries by call result"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Result"), h("th", { scope: "col", class: "num" }, "Delay"), h("th", { scope: "col", class: "num" }, "Most"))),
      h("tbody", {}, rows.map(([name, rule]) => h("tr", {}, h("td", {}, name.replaceAll("_", " ")),
        h("td", { class: "num" }, `${rule.delay_s} s`), h("td", { class: "num" }, String(rule.max)))))));
}

export default function settings(ctx) {
  const editable = ctx.can("manage_config");
  ctx.main.append(pageHeader("Server settings", editable ? "Changes apply to every node without a restart" : "You may look, not change"));
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  ctx.main.append(h("datalist", { id: "time-zones" }, zones.map((zone) => h("option", { value: zone }))));
  const built = FORMS.map((spec) => {
    const retries = h("div");
    const form = settingsForm({ ...spec, editable, extra: spec.id === "outgoing-queue" ? retries : null,
      save: async (changes) => { const values = await api.put(spec.path, changes); clear(retries, retryTable(values.retry_rules)); return values; } });
    ctx.main.append(form.node);
    const load = async (by) => {
      const values = await api.get(spec.path);
      if (spec.id === "outgoing-queue") clear(retries, retryTable(values.retry_rules));
      if (by === undefined) form.show(values); else form.changedElsewhere(values, by);
    };
    load().catch((error) => form.node.append(h("p", { class: "form-error" }, errorText(error))));
    return { spec, load };
  });
  const unsubscribe = ctx.subscribe((event) => {
    if (event.topic !== "CONFIG") return;
    for (const { spec, load } of built) {
      if (spec.areas.includes(event.payload.area)) load(event.payload.by || "").catch(() => {});
    }
  });
  return { dispose: unsubscribe };
}
