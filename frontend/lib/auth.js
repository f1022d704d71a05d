// Signing in. The server keeps the sign-in in an HttpOnly, SameSite=Strict cookie (14 days, renewed while in
// use), so every tab and every restart of the browser stays signed in; this module never sees the cookie. What
// arrives in the address (#token=... from the desktop shell, #login=<one-time code> from `bulkmsg serve`) is
// exchanged for that cookie at once and removed from the address bar.

import { request } from './api.js';

/** Reads and strips #token= or #login= from the address. Returns {token} | {code} | {}. */
export function takeCredentialFromAddress() {
  const hash = window.location.hash || '';
  const match = hash.match(/^#(token|login)=([^&]+)/);
  if (!match) return {};
  const value = decodeURIComponent(match[2]);
  window.history.replaceState(null, '', `${window.location.pathname}${window.location.search}#/`);
  return match[1] === 'token' ? { token: value } : { code: value };
}

/** Exchanges a one-time code ({code}) or a token ({token}) for the session cookie. Throws ApiError. */
export async function signIn(credential) {
  await request('POST', '/api/session', { body: credential, auth: false });
}

/** Who is signed in, or null when nobody is (401). Throws ApiError for other failures. */
export async function whoIsSignedIn() {
  try {
    return await request('GET', '/api/session', { auth: false });
  } catch (error) {
    if (error.status === 401) return null;
    throw error;
  }
}

/** Signs this device out (`everywhere`: every device of the account). */
export async function signOut({ everywhere = false } = {}) {
  if (everywhere) await request('POST', '/api/sign-ins/revoke-all');
  else await request('DELETE', '/api/session', { auth: false });
}
