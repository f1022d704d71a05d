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
  // The link's state: the open socket (null between connections), the reconnect attempt, its timer, and
  // whether stop() was called.
  const link = { socket: null, attempt: 0, timer: null, stopped: false };
  const reconnectNow = () => reconnectSoon(link);
  window.addEventListener('online', reconnectNow);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) reconnectNow();
  });
  connect(link);
  return { stop: () => stop(link), reconnectNow };
}

async function connect(link) {
  clearTimeout(link.timer);
  if (link.stopped || link.socket) return;
  setConnection(link.attempt === 0 ? 'connecting' : 'reconnecting');
  let ticket;
  try {
    ({ ticket } = await api.post('/api/ws-ticket'));
  } catch (error) {
    if (error.status === 401) {
      stop(link);
      return;
    }
    scheduleReconnect(link);
    return;
  }
  if (link.stopped || link.socket) return;
  openSocket(link, ticket);
}

function openSocket(link, ticket) {
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${window.location.host}/ws`);
  link.socket = ws;
  ws.onopen = () => {
    // History was loaded over HTTP first, so "after" is always a number: 0 when there was none yet (null
    // would mean "live only" and lose whatever happened while we were away).
    ws.send(JSON.stringify({ type: 'hello', ticket, after: state.lastEventId ?? 0 }));
    setConnection('live');
  };
  ws.onmessage = (message) => {
    let envelope;
    try {
      envelope = JSON.parse(message.data);
    } catch {
      return;
    }
    link.attempt = 0;
    if (envelope.type === 'resync') resync(link, ws);
    else if (envelope.id != null) addEvents([envelope]);
  };
  ws.onclose = () => {
    if (link.socket !== ws) return;
    link.socket = null;
    if (!link.stopped) scheduleReconnect(link);
  };
}

async function resync(link, ws) {
  // Stop listening, fill the gap over HTTP, then say hello again from the newest id.
  link.socket = null;
  ws.onclose = null;
  ws.close();
  setConnection('reconnecting');
  try {
    await backfill();
  } catch {
    /* the reconnect below retries */
  }
  emit('resync');
  link.attempt = 0;
  connect(link);
}

function scheduleReconnect(link) {
  link.attempt += 1;
  setConnection('reconnecting');
  const base = Math.min(30_000, 500 * 2 ** Math.min(link.attempt - 1, 6));
  link.timer = setTimeout(() => connect(link), base * (0.75 + Math.random() * 0.5));
}

function reconnectSoon(link) {
  if (link.socket || link.stopped) return;
  link.attempt = Math.max(link.attempt, 1);
  connect(link);
}

function stop(link) {
  link.stopped = true;
  clearTimeout(link.timer);
  if (link.socket) {
    link.socket.onclose = null;
    link.socket.close();
    link.socket = null;
  }
  setConnection('offline');
}
