// One EventSource on /api/v1/events (the events contract): topics the principal may see, resumed by the browser
// with Last-Event-ID after a drop. Pages subscribe to topics; nothing in the console polls.
const listeners = new Set();
let source = null;
let stateListener = () => {};

export function topicsFor(rights) {
  const has = (r) => rights.includes(r);
  const topics = [];
  if (has("query_jobs") || has("submit_low") || has("submit_normal") || has("submit_high")) topics.push("OUT_QUEUE");
  if (has("query_config")) topics.push("DEVICE_STATUS", "QUEUE_STATE", "INCOMING_CALL", "ACTIVITY", "CONFIG");
  if (has("query_in_archive")) topics.push("IN_QUEUE", "IN_ARCHIVE");
  if (has("query_out_archive")) topics.push("OUT_ARCHIVE");
  return topics;
}

export function connect(rights, onState) {
  disconnect();
  stateListener = onState || (() => {});
  const topics = topicsFor(rights);
  if (!topics.length) return;
  source = new EventSource(`/api/v1/events?types=${topics.join(",")}`);
  source.onopen = () => stateListener("live");
  source.onerror = () => stateListener(source && source.readyState === EventSource.CLOSED ? "off" : "reconnecting");
  for (const topic of [...topics, "FXSSVC_ENDED"]) {
    source.addEventListener(topic, (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch { return; }
      if (topic === "FXSSVC_ENDED") stateListener("reconnecting");
      for (const listener of listeners) {
        try { listener(event); } catch (error) { console.error(error); }
      }
    });
  }
}

export function disconnect() {
  if (source) source.close();
  source = null;
}

export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// The job an event is about: the contract's payload.job_id, or payload.job from the bus before it.
export function jobId(event) {
  const p = event.payload || {};
  return Number.isInteger(p.job_id) ? p.job_id : Number.isInteger(p.job) ? p.job : null;
}
