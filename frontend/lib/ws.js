// The one WebSocket client. It asks for a ticket, says hello with the last event id it has seen, and
// reconnects by itself with back-off (showing "reconnecting"), so no event is lost across a drop.
// On {"type": "resync"} it fills the gap over HTTP, tells the views to reload, and says hello again.

import { api, qs } from './api.js';
import { addEvents, emit, setConnection, state } from './store.js';

const PAGE = 1000;

/** Loads every event after the last one we have, page by page (the activity log replays from `after`). */
export async function backfill(onPage) {
  for (;;) {
    const page = await api.get(`/api/events${qs({ after: state.lastEventId ?? 0, limit: PAGE })}`);
    const { items } = page;
    if (items.length === 0) break;
    const before = state.lastEventId;
    addEvents(items);
    if (onPage) onPage(state.events.length);
    if (state.lastEventId === before) break;
    if (items.length >= page.total) break;
  }
}

export function startSocket() {
  let socket = null;
  let attempt = 0;
  let timer = null;
  let stopped = false;

  async function connect() {
    clearTimeout(timer);
    if (stopped || socket) return;
    setConnection(attempt === 0 ? 'connecting' : 'reconnecting');
    let ticket;
    try {
      ({ ticket } = await api.post('/api/ws-ticket'));
    } catch (error) {
      if (error.status === 401) { stop(); return; }
      scheduleReconnect();
      return;
    }
    if (stopped || socket) return;
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${window.location.host}/ws`);
    socket = ws;
    ws.onopen = () => {
      // History was loaded over HTTP first, so "after" is always a number: 0 when there was none yet (null
      // would mean "live only" and lose whatever happened while we were away).
      ws.send(JSON.stringify({ type: 'hello', ticket, after: state.lastEventId ?? 0 }));
      setConnection('live');
    };
    ws.onmessage = (message) => {
      let envelope;
      try { envelope = JSON.parse(message.data); } catch { return; }
      attempt = 0;
      if (envelope.type === 'resync') resync(ws);
      else if (envelope.id != null) addEvents([envelope]);
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      if (!stopped) scheduleReconnect();
    };
  }

  async function resync(ws) {
    // Stop listening, fill the gap over HTTP, then say hello again from the newest id.
    socket = null;
    ws.onclose = null;
    ws.close();
    setConnection('reconnecting');
    try { await backfill(); } catch { /* the reconnect below retries */ }
    emit('resync');
    attempt = 0;
    connect();
  }

  function scheduleReconnect() {
    attempt += 1;
    setConnection('reconnecting');
    const base = Math.min(30_000, 500 * 2 ** Math.min(attempt - 1, 6));
    timer = setTimeout(connect, base * (0.75 + Math.random() * 0.5));
  }

  function reconnectNow() {
    if (socket || stopped) return;
    attempt = Math.max(attempt, 1);
    connect();
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    setConnection('offline');
  }

  window.addEventListener('online', reconnectNow);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) reconnectNow(); });
  connect();
  return { stop, reconnectNow };
}
