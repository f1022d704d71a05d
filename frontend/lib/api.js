// The HTTP client: the session cookie (sent by the browser) and the CSRF header on every /api call, JSON in and
// out, errors as ApiError with a sentence.

import { ApiError } from './errors.js';

// The server accepts the session cookie only with this header, which another site's page cannot add.
const CSRF = { 'X-Bulkmsg-CSRF': '1' };

const signedOutHandlers = new Set();
export const onSignedOut = (fn) => signedOutHandlers.add(fn);

export async function request(method, path, { body, signal, raw = false, auth = true } = {}) {
  const headers = { Accept: 'application/json', ...CSRF };
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: payload,
      signal,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network', 'Cannot reach the Bulk Messenger server.');
  }
  if (response.status === 401 && auth) {
    for (const fn of signedOutHandlers) fn();
  }
  // The store is in trouble (503): the health banner looks at once instead of at its next poll.
  if (response.status === 503) window.dispatchEvent(new Event('bulkmsg:store-trouble'));
  if (!response.ok) throw await toApiError(response);
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get('Content-Type') || '';
  return type.includes('json') ? response.json() : response.text();
}

async function toApiError(response) {
  let data = {};
  try {
    data = await response.json();
  } catch {
    /* not JSON: use the status alone */
  }
  const fallback =
    {
      400: 'The request was not accepted.',
      401: 'Your session has ended.',
      403: 'This request was refused.',
      404: 'Not found.',
      409: 'That cannot be done in the current state.',
      413: 'The file is too large.',
      429: 'Too many requests.',
    }[response.status] || `The server answered ${response.status}.`;
  return new ApiError(
    response.status,
    data.error || String(response.status),
    data.message || fallback,
    data.details || [],
  );
}

export const api = {
  get: (path, opts) => request('GET', path, opts),
  post: (path, body, opts) => request('POST', path, { ...opts, body }),
  put: (path, body, opts) => request('PUT', path, { ...opts, body }),
  patch: (path, body, opts) => request('PATCH', path, { ...opts, body }),
  del: (path, opts) => request('DELETE', path, opts),
};

/** One page of a list route. Every list route answers {items, total} (DESIGN section 9): no guessing. */
export async function list(path, params = {}) {
  const { items, total } = await api.get(`${path}${qs(params)}`);
  return { items, total };
}

/** Builds a query string, skipping empty values. */
export function qs(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Downloads a file from an authenticated route (a plain link cannot carry the CSRF header). */
export async function download(path, filename) {
  const response = await request('GET', path, { raw: true });
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = Object.assign(document.createElement('a'), { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
