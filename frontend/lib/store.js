// The one small store: what the server told us, and who wants to hear when it changes.
// Topics: 'events' (a batch of new envelopes), 'channels', 'qr', 'campaign' (one campaign), 'connection',
// 'resync' (views reload), 'trimmed' (old events dropped; logs rebuild).

import { learnLabels } from './errors.js';

const MAX_EVENTS = 300_000;
const TRIM_TO = 250_000;

const listeners = new Map();
let pending = [];
let flushScheduled = false;

export const state = {
  events: [],
  lastEventId: null,
  channels: new Map(),
  qr: new Map(),
  campaigns: new Map(),
  connection: 'connecting',
  historyLoaded: false,
};

export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  return () => listeners.get(topic).delete(fn);
}

export function emit(topic, payload) {
  for (const fn of [...(listeners.get(topic) || [])]) {
    try {
      fn(payload);
    } catch (error) {
      console.error(`listener for ${topic} failed`, error);
    }
  }
}

/** Adds envelopes in id order, ignoring any already seen; listeners get them in batches once a frame. */
export function addEvents(envelopes) {
  for (const envelope of envelopes) {
    if (envelope == null || envelope.id == null) continue;
    if (state.lastEventId != null && envelope.id <= state.lastEventId) continue;
    state.lastEventId = envelope.id;
    state.events.push(envelope);
    applyEvent(envelope);
    pending.push(envelope);
  }
  if (state.events.length > MAX_EVENTS) {
    state.events.splice(0, state.events.length - TRIM_TO);
    emit('trimmed');
  }
  scheduleFlush();
}

function scheduleFlush() {
  if (flushScheduled || pending.length === 0) return;
  flushScheduled = true;
  const run = () => {
    flushScheduled = false;
    const batch = pending;
    pending = [];
    emit('events', batch);
  };
  if (document.hidden) setTimeout(run, 100);
  else requestAnimationFrame(run);
}

function applyEvent({ type, data }) {
  if (!data) return;
  if (type === 'channel.status' && data.channel) {
    const previous = state.channels.get(data.channel) || { channel: data.channel, settings: {} };
    state.channels.set(data.channel, { ...previous, state: data.state, detail: data.detail });
    if (!['qr', 'initializing'].includes(data.state) && state.qr.has(data.channel)) {
      state.qr.delete(data.channel);
      emit('qr', data.channel);
    }
    emit('channels', data.channel);
  } else if (type === 'channel.qr' && data.channel) {
    if (data.data_url) state.qr.set(data.channel, data.data_url);
    else state.qr.delete(data.channel);
    emit('qr', data.channel);
  } else if (type === 'campaign.status' && data.campaign_id != null) {
    const key = String(data.campaign_id);
    const previous = state.campaigns.get(key) || { id: data.campaign_id };
    const next = { ...previous, status: data.status || previous.status, counts: data.counts || previous.counts };
    state.campaigns.set(key, next);
    emit('campaign', next);
  }
}

export function setChannels(list) {
  for (const channel of list) {
    // A channel's settings form comes with it (GET /api/channels); an update that has none keeps the known one.
    const known = state.channels.get(channel.channel);
    state.channels.set(channel.channel, channel.form || !known ? channel : { ...channel, form: known.form });
    if (channel.form) learnLabels(channel.form.fields);
  }
  emit('channels', null);
}

export function setCampaign(campaign) {
  const key = String(campaign.id);
  state.campaigns.set(key, { ...(state.campaigns.get(key) || {}), ...campaign });
  emit('campaign', state.campaigns.get(key));
}

export function setConnection(value) {
  if (state.connection === value) return;
  state.connection = value;
  emit('connection', value);
}
