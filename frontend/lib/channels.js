// The channels as the server describes them (GET /api/channels): order, title, state, and each channel's limits
// (subject or not, recipient kind, longest body, default pace and daily cap). Nothing about them is hard-coded.

import { api } from './api.js';
import { setChannels, state } from './store.js';

/** Loads the channels into the store; resolves to the list in the server's order. */
export async function loadChannels() {
  const items = await api.get('/api/channels');
  setChannels(items);
  return items;
}

/** The channel names in the server's order (as last loaded). */
export const channelNames = () => [...state.channels.keys()];

export function channelInfo(name) {
  return (
    state.channels.get(name) || {
      channel: name,
      state: 'not_configured',
      detail: '',
      settings: {},
      limits: { rate: {} },
    }
  );
}

export const limitsOf = (name) => channelInfo(name).limits || { rate: {} };
export const isConfigured = (name) => channelInfo(name).state !== 'not_configured';

// The channel families, as the server has them (backend/channels/families.py): a message's source (a family) and
// the channels that send it, and a family's word in a sentence.
export const CHANNELS_OF = { sms: ['sms'], email: ['smtp', 'gmail'], whatsapp: ['whatsapp'] };
export const familyOf = (channel) => Object.keys(CHANNELS_OF).find((f) => CHANNELS_OF[f].includes(channel)) || channel;
export const FAMILY_WORDS = { sms: 'SMS', email: 'email', whatsapp: 'WhatsApp' };
