// The compose form's controls: channel choice (from GET /api/channels), pace (one unit: per minute, or the
// pause range for WhatsApp) and daily cap with the channel's defaults as placeholders, and when to send.

import { channelInfo, channelNames, isConfigured, limitsOf } from '../lib/channels.js';
import { field, h, nextId } from '../lib/dom.js';
import { channelName } from '../lib/format.js';
import { channelPill } from '../lib/ui.js';

export function channelChoice(onChange) {
  const group = nextId('channel');
  const names = channelNames();
  const radios = names.map((c) => h('input', { type: 'radio', name: group, value: c }));
  const ready = names.find((c) => channelInfo(c).state === 'ready') || names.find(isConfigured) || names[0];
  const pick = (name) => {
    const r = radios.find((x) => x.value === name) || radios[0];
    if (r) r.checked = true;
  };
  pick(ready);
  radios.forEach((r) => r.addEventListener('change', onChange));
  const element = h(
    'fieldset',
    {},
    h('legend', {}, 'Channel'),
    h(
      'div',
      { class: 'channel-choice' },
      radios.map((radio) =>
        h('label', {}, radio, channelName(radio.value), channelPill(channelInfo(radio.value).state)),
      ),
    ),
  );
  return { element, value: () => (radios.find((r) => r.checked) || {}).value, set: pick };
}

export function paceFields() {
  const perMinute = h('input', { type: 'number', min: 1, step: 1, name: 'per_minute' });
  const minDelay = h('input', { type: 'number', min: 0, step: 1, name: 'min_delay_s' });
  const maxDelay = h('input', { type: 'number', min: 0, step: 1, name: 'max_delay_s' });
  const dailyCap = h('input', { type: 'number', min: 1, step: 1, name: 'daily_cap' });
  const perMinuteField = field('Messages per minute', perMinute);
  const delayFields = [field('Shortest pause (seconds)', minDelay), field('Longest pause (seconds)', maxDelay)];
  const note = h('p', { class: 'muted small limit-note' });
  const batchSize = h('input', { type: 'number', min: 1, step: 1, name: 'batch_size', placeholder: 'no batches' });
  const batchPause = h('input', { type: 'number', min: 1, step: 1, name: 'batch_pause_s', placeholder: 'seconds' });
  const element = h(
    'fieldset',
    { class: 'stack', style: { gap: '8px' } },
    h('legend', {}, 'Pace'),
    h('div', { class: 'fields' }, perMinuteField, delayFields, field('Daily cap', dailyCap)),
    h(
      'div',
      { class: 'fields' },
      field('Pause after every … messages', batchSize),
      field('Pause for (seconds)', batchPause),
    ),
    note,
  );
  const inputs = { per_minute: perMinute, min_delay_s: minDelay, max_delay_s: maxDelay, daily_cap: dailyCap };
  const show = (channel) => {
    const rate = limitsOf(channel).rate || {};
    const paused = rate.min_delay_s > 0 || rate.max_delay_s > 0;
    perMinuteField.hidden = paused;
    delayFields.forEach((f) => {
      f.hidden = !paused;
    });
    perMinute.placeholder = rate.per_minute ? String(rate.per_minute) : 'as fast as allowed';
    minDelay.placeholder = String(rate.min_delay_s ?? '');
    maxDelay.placeholder = String(rate.max_delay_s ?? '');
    dailyCap.placeholder = rate.daily_cap ? String(rate.daily_cap) : 'no limit';
    note.textContent = paused
      ? `${channelName(channel)} waits a random ${rate.min_delay_s}–${rate.max_delay_s} s between messages (about ${Math.round(120 / (rate.min_delay_s + rate.max_delay_s))} a minute).`
      : `Left empty: ${rate.per_minute ? `${rate.per_minute} a minute` : 'as fast as the channel allows'}${rate.daily_cap ? `, at most ${rate.daily_cap} a day` : ''}.`;
  };
  const value = () => {
    const rate = {};
    for (const [key, input] of Object.entries(inputs))
      if (!input.closest('[hidden]') && input.value) rate[key] = Number(input.value);
    if (batchSize.value && batchPause.value)
      rate.batch = { size: Number(batchSize.value), pause_s: Number(batchPause.value) };
    return rate;
  };
  const set = (rate) => {
    for (const [key, input] of Object.entries(inputs)) input.value = rate && rate[key] != null ? String(rate[key]) : '';
    batchSize.value = rate?.batch ? String(rate.batch.size) : '';
    batchPause.value = rate?.batch ? String(rate.batch.pause_s) : '';
  };
  const cap = () => Number(dailyCap.value || dailyCap.placeholder) || null;
  return { element, show, value, set, cap, inputs };
}

export function scheduleFields(onChange) {
  const group = nextId('when');
  const now = h('input', { type: 'radio', name: group, value: 'now', checked: true });
  const later = h('input', { type: 'radio', name: group, value: 'later' });
  const when = h('input', { type: 'datetime-local', 'aria-label': 'Send at', disabled: true });
  for (const radio of [now, later]) {
    radio.addEventListener('change', () => {
      when.disabled = now.checked;
      if (later.checked && !when.value) when.value = inAnHour();
      onChange();
    });
  }
  const element = h(
    'fieldset',
    { class: 'stack', style: { gap: '8px' } },
    h('legend', {}, 'When'),
    h(
      'div',
      { class: 'row', style: { gap: '18px' } },
      h('label', { class: 'check' }, now, 'Now'),
      h('label', { class: 'check' }, later, 'Schedule for'),
      when,
    ),
  );
  return {
    element,
    later: () => later.checked,
    value: () => (later.checked && when.value ? new Date(when.value).toISOString() : null),
  };
}

function inAnHour() {
  const d = new Date(Date.now() + 3600_000);
  d.setMinutes(0, 0, 0);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
