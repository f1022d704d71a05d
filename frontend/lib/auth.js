// The API token: taken from the address (#token=... from the desktop shell, #login=<one-time code> from
// `bulkmsg serve`), kept in sessionStorage for this tab, and removed from the address bar at once.

const KEY = 'bulkmsg.token';

export function getToken() {
  try { return sessionStorage.getItem(KEY); } catch { return null; }
}

export function setToken(token) {
  try { sessionStorage.setItem(KEY, token); } catch { /* storage disabled: the token lives for this page only */ }
  memoryToken = token;
}

export function clearToken() {
  try { sessionStorage.removeItem(KEY); } catch { /* nothing stored */ }
  memoryToken = null;
}

let memoryToken = null;
export const currentToken = () => memoryToken || getToken();

/** Reads and strips #token= or #login= from the address. Returns {token} | {code} | {}. */
export function takeCredentialFromAddress() {
  const hash = window.location.hash || '';
  const match = hash.match(/^#(token|login)=([^&]+)/);
  if (!match) return {};
  const value = decodeURIComponent(match[2]);
  window.history.replaceState(null, '', `${window.location.pathname}${window.location.search}#/`);
  return match[1] === 'token' ? { token: value } : { code: value };
}
