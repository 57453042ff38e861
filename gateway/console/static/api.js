// Every call the console makes to /api/v1: same-origin cookie session, CSRF header on changes, errors as ApiError.
const BASE = "/api/v1";
let csrf = "";

export class ApiError extends Error {
  constructor(status, detail, missingRight, problems = []) {
    super(detail);
    this.status = status;
    this.missingRight = missingRight;
    this.problems = problems; // a 422's [{loc, msg}], so a form can show each next to its field
  }
}

export function setCsrf(value) { csrf = value || ""; }

export async function call(method, path, body, { form = false, raw = false } = {}) {
  const headers = { "X-Faxgate-Console": "1", Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf;
  let payload;
  if (body !== undefined) {
    if (form) payload = body;
    else { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  }
  const reply = await fetch(BASE + path, { method, headers, body: payload, credentials: "same-origin" });
  if (!reply.ok) {
    let detail = `${reply.status} ${reply.statusText}`, right = null, problems = [];
    try {
      const problem = await reply.json();
      if (typeof problem.detail === "string") detail = problem.detail;
      else if (Array.isArray(problem.detail)) { problems = problem.detail; detail = problems.map((d) => d.msg).join("; "); }
      right = problem.missing_right || null;
    } catch { /* not JSON */ }
    throw new ApiError(reply.status, detail, right, problems);
  }
  if (raw) return reply;
  if (reply.status === 204 || reply.status === 202 && reply.headers.get("content-length") === "0") return null;
  const type = reply.headers.get("content-type") || "";
  return type.includes("json") ? reply.json() : null;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body);
export const put = (path, body) => call("PUT", path, body);
export const del = (path) => call("DELETE", path);
export const postForm = (path, form) => call("POST", path, form, { form: true });
export const url = (path) => BASE + path;
