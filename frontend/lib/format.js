// Formatting of numbers, times and durations, in the user's locale.

const nf = new Intl.NumberFormat();
export const num = (n) => (n == null || Number.isNaN(n) ? '—' : nf.format(n));

export function pct(part, whole) {
  if (!whole) return '0%';
  return `${Math.round((100 * part) / whole)}%`;
}

const timeFmt = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
});
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function clock(ts) {
  const d = ts instanceof Date ? ts : new Date(ts);
  if (Number.isNaN(d.getTime())) return '';
  return `${timeFmt.format(d)}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function dateTime(ts) {
  if (!ts) return '—';
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? '—' : dateTimeFmt.format(d);
}

// A sending rate, as [number, unit]: always per minute, the unit the pace is typed in.
export function rate(perMinute) {
  if (perMinute == null || !Number.isFinite(perMinute)) return ['—', ''];
  return [num(perMinute >= 100 ? Math.round(perMinute) : Math.round(perMinute * 10) / 10), '/min'];
}

export function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hr / 24)}d ${hr % 24}h`;
}

export function relative(ts) {
  if (!ts) return '';
  const diff = (Date.now() - new Date(ts).getTime()) / 1000;
  if (diff < 45) return 'just now';
  if (diff < 3600) return `${Math.round(diff / 60)} min ago`;
  if (diff < 86400) return `${Math.round(diff / 3600)} h ago`;
  return dateTime(ts);
}

export const CHANNEL_NAMES = { whatsapp: 'WhatsApp', gmail: 'Gmail', smtp: 'Email (SMTP)', sms: 'SMS' };
export const channelName = (c) => CHANNEL_NAMES[c] || c;

// A contact's conversation id, `contact-<id>`, made and read only here (the server's backend/store/states.py).
export const threadOfContact = (contactId) => `contact-${contactId}`;
export function contactOfThread(conversationId) {
  return /^contact-([1-9]\d*)$/.exec(conversationId)?.[1] ?? null;
}

const graphemes =
  typeof Intl !== 'undefined' && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : null;

/** At most `limit` characters a person sees (grapheme clusters: an emoji or an accented letter is never cut in
 * half); a longer text keeps `limit - 1` of them and an ellipsis. */
export function cutText(text, limit) {
  const value = String(text ?? '');
  if (value.length <= limit) return value;
  if (!graphemes)
    return Array.from(value).length <= limit
      ? value
      : `${Array.from(value)
          .slice(0, limit - 1)
          .join('')}…`;
  const kept = [];
  for (const { segment } of graphemes.segment(value)) {
    kept.push(segment);
    if (kept.length > limit) return `${kept.slice(0, limit - 1).join('')}…`;
  }
  return value;
}
