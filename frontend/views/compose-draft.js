// The compose draft, saved as the user types: in this browser (localStorage, at once: a reload loses nothing)
// and on the server (`/api/compose-draft`, a second later: a crash or the desktop window, whose browser storage
// dies with it, loses nothing). Reopening compose takes the newer of the two and puts the cursor back.

import { api } from '../lib/api.js';

const KEY = 'bulkmsg.composeDraft';
const SERVER_DELAY_MS = 1000;
let timer = null;
let pending = null;

function readLocal() {
  try {
    return JSON.parse(localStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

/** The newer of this browser's copy and the server's, or null. */
export async function loadDraft() {
  const local = readLocal();
  let remote = null;
  try {
    remote = (await api.get('/api/compose-draft')).snapshot;
  } catch {
    /* none kept, or offline */
  }
  if (!local) return remote;
  if (!remote) return local;
  return (remote.saved_at || '') > (local.saved_at || '') ? remote : local;
}

/** Keep `draft` (a compose snapshot) now in this browser, and on the server a moment later. */
export function saveDraft(draft, { now = false } = {}) {
  if (!draft) return Promise.resolve();
  const stamped = { ...draft, saved_at: new Date().toISOString() };
  try {
    localStorage.setItem(KEY, JSON.stringify(stamped));
  } catch {
    /* storage full or off: the server keeps it */
  }
  pending = stamped;
  clearTimeout(timer);
  if (now) return flush();
  timer = setTimeout(flush, SERVER_DELAY_MS);
  return Promise.resolve();
}

async function flush() {
  clearTimeout(timer);
  const draft = pending;
  pending = null;
  if (!draft) return;
  try {
    await api.put('/api/compose-draft', { snapshot: draft });
  } catch {
    /* this browser's copy stays */
  }
}

export async function clearDraft() {
  clearTimeout(timer);
  pending = null;
  localStorage.removeItem(KEY);
  try {
    await api.del('/api/compose-draft');
  } catch {
    /* nothing kept there */
  }
}

/** Where the user was: the field with the cursor (and the selection in it) and the page's scroll. */
export function whereNow(form) {
  const active = document.activeElement;
  const inForm = active && form.contains(active) && active.name;
  return {
    field: inForm ? active.name : null,
    start: inForm && 'selectionStart' in active ? active.selectionStart : null,
    end: inForm && 'selectionEnd' in active ? active.selectionEnd : null,
    scroll: window.scrollY,
  };
}

export function goBackTo(form, where) {
  if (!where) return;
  const input = where.field ? form.querySelector(`[name="${CSS.escape(where.field)}"]`) : null;
  if (input) {
    input.focus({ preventScroll: true });
    if (where.start != null && typeof input.setSelectionRange === 'function') {
      try {
        input.setSelectionRange(where.start, where.end ?? where.start);
      } catch {
        /* not a text field */
      }
    }
  }
  window.scrollTo(0, where.scroll || 0);
}
