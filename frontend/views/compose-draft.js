// The compose draft kept in this browser (localStorage), so that leaving the screen loses nothing.

const KEY = 'bulkmsg.composeDraft';

export function loadDraft() {
  try { return JSON.parse(localStorage.getItem(KEY) || 'null'); } catch { return null; }
}

export function saveDraft(draft) {
  if (!draft) return;
  try { localStorage.setItem(KEY, JSON.stringify(draft)); } catch { /* storage full or off: nothing to keep */ }
}

export function clearDraft() {
  localStorage.removeItem(KEY);
}
