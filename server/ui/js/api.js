// The console's one way to the server: the public HTTP API, with the
// operator's bearer token in the Authorization header (never in a URL).

const tokenKey = 'annals.token';

// session is what the server said about this caller (GET /v1/info).
export const session = {info: null};

// canWrite reports whether the caller may retry and rebuild.
export function canWrite() {
  return !!session.info && session.info.access !== 'read-only';
}

export function token() {
  return sessionStorage.getItem(tokenKey) || '';
}

export function setToken(t) {
  if (t) sessionStorage.setItem(tokenKey, t);
  else sessionStorage.removeItem(tokenKey);
}

// ApiError carries the HTTP status and the problem document.
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || 'HTTP ' + status);
    this.status = status;
    this.problem = problem;
  }
}

// unauthorized is called on every 401, to ask for a token.
let unauthorized = () => {};
export function onUnauthorized(fn) {
  unauthorized = fn;
}

function headers(extra) {
  const hs = {Accept: 'application/json', ...extra};
  const t = token();
  if (t) hs.Authorization = 'Bearer ' + t;
  return hs;
}

// base is the path the server's handler is mounted at: what comes before
// the console's own /ui/, so that a console served at /annals/ui/ (the
// handler under http.StripPrefix) calls /annals/v1/….
const base = (() => {
  const i = location.pathname.lastIndexOf('/ui/');
  return i < 0 ? '' : location.pathname.slice(0, i);
})();

// url builds a same-origin URL for a server path ("/v1/…", "/readyz"),
// under base, with query parameters (skipping empty ones).
export function url(path, params) {
  const u = new URL(base + path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, v);
  }
  return u;
}

async function problemOf(res) {
  try {
    return await res.json();
  } catch {
    return {title: res.statusText || 'HTTP ' + res.status};
  }
}

// api calls a JSON endpoint and returns its body; a failure throws an
// ApiError. quiet401 keeps a 401 from asking for a token (the token form's
// own check).
export async function api(path, {method = 'GET', params, signal, quiet401} = {}) {
  const res = await fetch(url(path, params), {method, headers: headers(), signal, cache: 'no-store', credentials: 'omit'});
  if (!res.ok) {
    const p = await problemOf(res);
    if (res.status === 401 && !quiet401) unauthorized(p);
    throw new ApiError(res.status, p);
  }
  if (res.status === 204) return null;
  return res.json();
}

// text fetches a text endpoint (/metrics) and its status.
export async function text(path, {signal} = {}) {
  const res = await fetch(url(path), {headers: headers({Accept: 'text/plain'}), signal, cache: 'no-store', credentials: 'omit'});
  return {status: res.status, body: await res.text()};
}

// readEvents reads a Server-Sent Events stream with fetch, so that the
// token travels in a header (EventSource cannot send one). It calls
// onOpen once connected and onEvent({id, event, data}) for each event,
// and returns when the stream ends; errors throw (ApiError for HTTP ones).
export async function readEvents(path, {lastEventId, signal, onOpen, onEvent}) {
  const hs = headers({Accept: 'text/event-stream'});
  if (lastEventId) hs['Last-Event-ID'] = lastEventId;
  const res = await fetch(url(path), {headers: hs, signal, cache: 'no-store', credentials: 'omit'});
  if (!res.ok) {
    const p = await problemOf(res);
    if (res.status === 401) unauthorized(p);
    throw new ApiError(res.status, p);
  }
  if (onOpen) onOpen();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let ev = {id: null, event: 'message', data: []};
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      let line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (ev.data.length) onEvent({id: ev.id, event: ev.event, data: ev.data.join('\n')});
        ev = {id: ev.id, event: 'message', data: []};
        continue;
      }
      if (line.startsWith(':')) continue; // a comment: keep-alive
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? '' : line.slice(colon + 1);
      if (val.startsWith(' ')) val = val.slice(1);
      if (name === 'data') ev.data.push(val);
      else if (name === 'event') ev.event = val;
      else if (name === 'id' && !val.includes('\0')) ev.id = val;
    }
  }
}
