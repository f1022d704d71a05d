// What an import will change, shown before anything is written (the dry run's answer): new, updated (each
// contact's columns, old -> new), unchanged, not imported with reasons, and rows that repeat an earlier row.
// Then the report after the import, with an Undo, and the "last import" notice on the contacts page.

import { api } from '../lib/api.js';
import { busy, h, svg } from '../lib/dom.js';
import { dateTime, num } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { confirmDialog, showError, toast } from '../lib/ui.js';

const FIELD_NAMES = { name: 'Name', phone: 'Phone', email: 'Email', timezone: 'Time zone' };
const fieldName = (f) => FIELD_NAMES[f] || (f.startsWith('fields.') ? f.slice(7) : f);

export function stat(label, value, tone) {
  return h(
    'div',
    { class: `stat ${tone}` },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, num(value ?? 0)),
  );
}

export function countsStats(report) {
  return h(
    'div',
    { class: 'stats' },
    stat('New', report.imported, 'ok'),
    stat('Updated', report.updated, report.updated ? 'warn' : ''),
    stat('Unchanged', report.unchanged, ''),
    stat('Not imported', report.skipped, report.skipped ? 'err' : ''),
  );
}

/** Each changed contact with its changed columns, old value struck through beside the new one. */
export function changesTable(report) {
  if (!report.changes || !report.changes.length) return null;
  const more = report.updated - report.changes.length;
  return h(
    'div',
    { class: 'stack' },
    h('h3', {}, `What changes in ${num(report.updated)} existing ${report.updated === 1 ? 'contact' : 'contacts'}`),
    h(
      'div',
      { class: 'table-wrap', style: { maxHeight: '300px' } },
      h(
        'table',
        { class: 'import-changes' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Row', 'Contact', 'Column', 'Now', 'After the import'].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        h(
          'tbody',
          {},
          report.changes.flatMap((c) =>
            c.columns.map((col, i) =>
              h(
                'tr',
                { dataset: { row: c.row } },
                h('td', { class: 'num' }, i ? '' : String(c.row)),
                h('td', {}, i ? '' : c.contact),
                h('td', {}, fieldName(col.field)),
                h(
                  'td',
                  {},
                  col.old == null || col.old === ''
                    ? h('span', { class: 'muted' }, 'empty')
                    : h('del', {}, String(col.old)),
                ),
                h('td', {}, h('ins', {}, col.new == null || col.new === '' ? '—' : String(col.new))),
              ),
            ),
          ),
        ),
      ),
    ),
    more > 0 ? h('p', { class: 'muted small' }, `…and ${num(more)} more.`) : null,
  );
}

export function duplicatesList(report) {
  if (!report.duplicate_rows) return null;
  return h(
    'div',
    { class: 'stack' },
    h(
      'h3',
      {},
      `${num(report.duplicate_rows)} ${report.duplicate_rows === 1 ? 'row repeats' : 'rows repeat'} an earlier row`,
    ),
    h(
      'p',
      { class: 'muted small' },
      'A row with the same phone number or email as an earlier row is merged into it (its non-empty cells win).',
    ),
    h(
      'ul',
      { class: 'import-duplicates small' },
      report.duplicates.map((d) => h('li', {}, `Row ${d.row} repeats row ${d.same_as} (${d.key})`)),
    ),
  );
}

/** The notice with Undo for an import (its undo view from the API); `onUndone` reloads what shows contacts. */
export function undoNotice(entry, onUndone) {
  if (!entry || !entry.can_undo) return null;
  const c = entry.counts || {};
  const button = h(
    'button',
    { class: 'btn small', type: 'button', dataset: { action: 'undo-import' } },
    'Undo this import',
  );
  const box = h(
    'div',
    { class: 'notice info undo-import', role: 'status' },
    svg(icons.alert),
    h(
      'div',
      {},
      h('strong', {}, `Last import: ${entry.filename || 'a file'}, ${dateTime(entry.created_at)}`),
      h(
        'span',
        {},
        ` ${num(c.imported || 0)} new, ${num(c.updated || 0)} updated. It can be undone until ${dateTime(entry.undo_until)}.`,
      ),
    ),
    button,
  );
  button.addEventListener('click', () =>
    busy(button, async () => {
      const yes = await confirmDialog({
        title: 'Undo this import?',
        text: `The ${num(c.imported || 0)} contacts it added are deleted and the ${num(c.updated || 0)} it changed get their earlier values back. Contacts changed since are kept as they are.`,
        confirm: 'Undo the import',
        cancel: 'Keep it',
        danger: true,
      });
      if (!yes) return;
      try {
        const done = await api.post(`/api/contacts/imports/${entry.id}/undo`);
        const kept = done.kept.length
          ? ` ${num(done.kept.length)} kept as they are now: ${done.kept
              .slice(0, 3)
              .map((k) => `${k.contact} (${k.reason})`)
              .join(', ')}${done.kept.length > 3 ? '…' : ''}.`
          : '';
        toast(`Import undone: ${num(done.deleted)} deleted, ${num(done.restored)} restored.${kept}`, {
          tone: 'ok',
          timeout: 10000,
        });
        box.remove();
        onUndone();
      } catch (error) {
        showError(error, 'The import was not undone');
      }
    }),
  );
  return box;
}
