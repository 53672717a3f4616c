// The console's JSON API: session cookie, CSRF header, uniform errors, reads tried again
// through a network's failure.

const NO_CSRF = new Set(['/api/login', '/api/setup']);
const SAFE = new Set(['GET', 'HEAD']);

let csrfToken = null;
let unauthorized = () => {};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

export function setCsrf(token) { csrfToken = token || null; }

/** The session's CSRF token, for what cannot send headers (a WebSocket's URL). */
export const csrf = () => csrfToken;

/** Called on any 401 (except where a caller opts out, e.g. the login form). */
export function onUnauthorized(fn) { unauthorized = fn; }

/** Path of an endpoint's resource: ep(3, '/containers') → /api/endpoints/3/containers. */
export const ep = (id, rest = '') => `/api/endpoints/${encodeURIComponent(id)}${rest}`;

/** One path segment, encoded: `/api/users/${enc(name)}`. */
export const enc = encodeURIComponent;

/** The items of a list answer: a bare array, or `{items, partial}` from a cluster. */
export const listOf = r => (Array.isArray(r) ? r : Array.isArray(r?.items) ? r.items : []);

/** True when a call failed only because its page was left (ctx.signal) or it was aborted. */
export const aborted = (ctx, e) => ctx.signal.aborted || e?.name === 'AbortError';

/** The server's `{"message"}` as given; otherwise the body text or the status line. */
async function errorMessage(res) {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text);
    if (body && typeof body.message === 'string') return body.message;
  } catch { /* not JSON */ }
  return text.trim() || `${res.status} ${res.statusText}`.trim();
}

/** Pauses before each new attempt at a read the network failed: a changed network
 * (Wi-Fi, VPN) fails what was in flight at once, and a lost one takes seconds to return. */
const RETRY_PAUSES_MS = [250, 1000, 2000, 4000];

/** Waits `ms`, or rejects as soon as `signal` aborts (the page was left). */
const pause = (ms, signal) => new Promise((resolve, reject) => {
  const left = () => { clearTimeout(t); reject(signal.reason); };
  const t = setTimeout(() => { signal?.removeEventListener('abort', left); resolve(); }, ms);
  signal?.addEventListener('abort', left, { once: true });
});

/**
 * fetch(), with a read tried again while the network fails it, and a network failure said
 * as the console's: a write is never sent twice, since the first may have been carried out.
 */
async function send(path, init) {
  const read = SAFE.has(init.method);
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch(path, init);
    } catch (e) {
      if (init.signal?.aborted || e?.name === 'AbortError') throw e;
      if (read && attempt < RETRY_PAUSES_MS.length) {
        await pause(RETRY_PAUSES_MS[attempt], init.signal);
        continue;
      }
      throw new ApiError(0, unreachable(init.method, path, e));
    }
  }
}

/** What a request the network failed says: a write may have been carried out, but a
 * sign-in changes nothing a user would look for, and is simply tried again. */
function unreachable(method, path, e) {
  const said = `The console could not be reached (${e.message})`;
  if (SAFE.has(method)) return `${said}.`;
  if (path.split('?')[0] === '/api/login') return `${said}; sign in again once the network is back.`;
  return `${said}: the change may or may not have been made; reload the page to see.`;
}

/**
 * One API call. Options: body (sent as JSON), signal, text (answer as text),
 * authRedirect (default true: a 401 hands over to the login page).
 */
export async function request(method, path, { body, signal, text = false, authRedirect = true } = {}) {
  const headers = { Accept: text ? 'text/plain' : 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const bare = path.split('?')[0];
  if (!SAFE.has(method) && !NO_CSRF.has(bare) && csrfToken) headers['X-CSRF-Token'] = csrfToken;

  const res = await send(path, {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    signal,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    const message = await errorMessage(res);
    if (res.status === 401 && authRedirect) unauthorized();
    throw new ApiError(res.status, message);
  }
  const raw = await res.text();
  if (text) return raw;
  if (!raw) return {};
  try {
    return JSON.parse(raw);
  } catch {
    throw new ApiError(res.status, 'The server sent an answer that is not JSON.');
  }
}

export const get = (path, opts) => request('GET', path, opts);
export const getText = (path, opts) => request('GET', path, { ...opts, text: true });
export const post = (path, body = {}, opts) => request('POST', path, { ...opts, body });
export const patch = (path, body = {}, opts) => request('PATCH', path, { ...opts, body });
export const put = (path, body = {}, opts) => request('PUT', path, { ...opts, body });
export const del = (path, opts) => request('DELETE', path, opts);

/** Query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v != null) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * A POST whose answer is server-sent events (a pull's progress): each event's data,
 * parsed as JSON, goes to onEvent as it comes; resolves when the stream ends.
 */
export async function postEvents(path, body, onEvent, { signal } = {}) {
  const headers = { Accept: 'text/event-stream', 'Content-Type': 'application/json' };
  if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const res = await send(path, {
    method: 'POST', headers, credentials: 'same-origin', cache: 'no-store', signal, body: JSON.stringify(body),
  });
  if (!res.ok) {
    const message = await errorMessage(res);
    if (res.status === 401) unauthorized();
    throw new ApiError(res.status, message);
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    let end;
    while ((end = text.indexOf('\n\n')) >= 0) {
      const data = text.slice(0, end).split('\n').filter(l => l.startsWith('data: ')).map(l => l.slice(6)).join('\n');
      text = text.slice(end + 2);
      if (!data) continue;
      try { onEvent(JSON.parse(data)); } catch { /* not JSON: not ours to show */ }
    }
  }
}
