// Compose: quiet hours (a send window in each recipient's time zone or a fixed one), a fallback channel, and the
// plan before Start (POST /api/campaigns/plan): a small calendar, "4,800 today, 212 tomorrow from 09:00", and
// what holds the campaign back.

import { api } from '../lib/api.js';
import { channelNames, familyOf, isConfigured } from '../lib/channels.js';
import { debounce, field, h, nextId, replace } from '../lib/dom.js';
import { channelName, num } from '../lib/format.js';

const DAYS = [
  ['mon', 'Mon'],
  ['tue', 'Tue'],
  ['wed', 'Wed'],
  ['thu', 'Thu'],
  ['fri', 'Fri'],
  ['sat', 'Sat'],
  ['sun', 'Sun'],
];
const HELD = { window: 'quiet hours', daily_cap: 'the daily cap', pace: 'the pace' };
const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

export function timingFields(onChange) {
  const on = h('input', { type: 'checkbox', name: 'quiet_hours' });
  const days = DAYS.map(([value]) => h('input', { type: 'checkbox', value, checked: !['sat', 'sun'].includes(value) }));
  const start = h('input', { type: 'time', value: '09:00', name: 'window_start' });
  const end = h('input', { type: 'time', value: '20:00', name: 'window_end' });
  const zone = h(
    'select',
    { name: 'window_timezone' },
    h('option', { value: 'recipient' }, 'Each recipient’s time zone'),
    h('option', { value: browserZone() }, `My time zone (${browserZone()})`),
  );
  const back = h('select', { name: 'fallback' }, h('option', { value: '' }, 'No fallback'));
  const details = h(
    'div',
    { class: 'stack', style: { gap: '8px' } },
    h(
      'div',
      { class: 'row wrap timing-days', role: 'group', 'aria-label': 'Days' },
      DAYS.map(([, label], i) => h('label', {}, days[i], label)),
    ),
    h(
      'div',
      { class: 'fields' },
      field('From', start),
      field('Until', end, 'Before “From”: the window crosses midnight'),
      field('In', zone),
    ),
  );
  const element = h(
    'fieldset',
    { class: 'stack', style: { gap: '8px' } },
    h('legend', {}, 'Timing'),
    h('label', { class: 'timing-toggle' }, on, 'Quiet hours: send only within these hours'),
    details,
    field('If a message cannot reach them', back, 'Not on WhatsApp, an invalid address, a hard bounce or undelivered'),
  );
  // Fallback steps carried by a copy (or a kept draft) as they were, while the user leaves the choice alone.
  let carried = null;
  const sync = () => {
    details.hidden = !on.checked;
    onChange();
  };
  [on, start, end, zone, back, ...days].forEach((input) => input.addEventListener('change', sync));
  back.addEventListener('change', () => {
    carried = null;
  });
  details.hidden = true;
  const show = (channel) => {
    const others = channelNames().filter((c) => familyOf(c) !== familyOf(channel) && isConfigured(c));
    const keep = back.value || (carried ? carried[0].channel : '');
    replace(
      back,
      h('option', { value: '' }, 'No fallback'),
      others.map((c) => h('option', { value: c }, `Send by ${channelName(c)}`)),
    );
    back.value = others.includes(keep) ? keep : '';
  };
  // A copied campaign's (or a kept draft's) quiet hours and fallback, as GET /api/campaigns/<id> gives them.
  const set = ({ send_window: w, fallback } = {}) => {
    on.checked = Boolean(w);
    if (w) {
      days.forEach((d) => {
        d.checked = (w.days || []).includes(d.value);
      });
      start.value = w.start || '09:00';
      end.value = w.end || '20:00';
      const tz = w.timezone || 'recipient';
      if (![...zone.options].some((o) => o.value === tz)) zone.append(h('option', { value: tz }, tz));
      zone.value = tz;
    }
    details.hidden = !on.checked;
    carried = Array.isArray(fallback) && fallback.length ? fallback : null;
    back.value = carried && [...back.options].some((o) => o.value === carried[0].channel) ? carried[0].channel : '';
  };
  const value = () => {
    const data = {};
    if (on.checked)
      data.send_window = {
        days: days.filter((d) => d.checked).map((d) => d.value),
        start: start.value,
        end: end.value,
        timezone: zone.value,
      };
    if (carried && back.value === carried[0].channel) data.fallback = carried;
    else if (back.value)
      data.fallback = [
        { channel: back.value, on: ['not_registered', 'invalid_address', 'hard_bounce', 'undelivered'] },
      ];
    return data;
  };
  return { element, set, show, value };
}

// "4,800 today, 212 tomorrow from 09:00" and a day-by-day list, for the draft as it stands.
export function planPanel(draft) {
  const summary = h('p', { class: 'plan-summary', 'aria-live': 'polite' });
  const calendar = h('ol', { class: 'plan-calendar', 'aria-label': 'Messages a day' });
  const element = h('div', { class: 'card plan', id: nextId('plan') }, h('h3', {}, 'When it goes'), summary, calendar);
  const refresh = debounce(async () => {
    const body = draft();
    if (!body) {
      element.hidden = true;
      return;
    }
    try {
      const plan = await api.post(`/api/campaigns/plan?tz=${encodeURIComponent(browserZone())}`, body);
      element.hidden = false;
      draw(plan, summary, calendar);
    } catch {
      element.hidden = true;
    }
  }, 400);
  element.hidden = true;
  return { element, refresh };
}

function dayWord(date, index) {
  const today = new Date();
  const key = (d) =>
    `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  if (date === key(today)) return 'today';
  if (date === key(tomorrow)) return 'tomorrow';
  return index === 0 ? `on ${date}` : date;
}

function draw(plan, summary, calendar) {
  const days = plan.days || [];
  const words = days.slice(0, 3).map((d, i) => {
    const from = (d.from || '').slice(11, 16);
    const later = i > 0 || (d.from && new Date(d.from) - Date.now() > 60_000);
    return `${num(d.count)} ${dayWord(d.date, i)}${later && from ? ` from ${from}` : ''}`;
  });
  const more =
    days.length > 3
      ? `, then ${num(days.slice(3).reduce((s, d) => s + d.count, 0))} over ${days.length - 3} more days`
      : '';
  const held = (plan.held_by || []).map((k) => HELD[k]).filter(Boolean);
  summary.textContent = days.length
    ? `${words.join(', ')}${more}.${held.length ? ` Held back by ${held.join(' and ')}.` : ''}`
    : 'Nothing to send.';
  replace(
    calendar,
    days
      .slice(0, 14)
      .map((d) =>
        h('li', {}, h('span', { class: 'plan-date' }, d.date), h('span', { class: 'plan-count num' }, num(d.count))),
      ),
  );
}
