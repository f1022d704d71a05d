// The import flow: choose a file -> preview with the detected column mapping -> import -> report of the
// rows that were rejected (row number, column and reason), so nothing is half-imported silently.

import { api } from '../lib/api.js';
import { busy, h, nextId, replace, svg } from '../lib/dom.js';
import { num } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { errorNotice } from '../lib/ui.js';

const BASE_FIELDS = [
  ['skip', 'Ignore this column'], ['name', 'Name'], ['first_name', 'First name'], ['last_name', 'Last name'],
  ['phone', 'Phone'], ['email', 'Email'], ['timezone', 'Time zone'],
];

export function importPanel({ onDone, onImported }) {
  const body = h('div', { class: 'stack' });
  const panel = h('section', { class: 'card stack', style: { marginBottom: '16px' }, 'aria-labelledby': 'import-title' },
    h('div', { class: 'card-head', style: { marginBottom: 0 } }, h('h2', { id: 'import-title' }, 'Import contacts'),
      h('span', { class: 'muted small' }, 'CSV (any delimiter or encoding) or Excel .xlsx, up to 20 MB')),
    body);
  chooseStep(body, { onDone, onImported });
  return panel;
}

function chooseStep(body, ctx) {
  const inputId = nextId('file');
  const input = h('input', { type: 'file', id: inputId, accept: '.csv,.tsv,.txt,.xlsx,text/csv', class: 'sr-only' });
  const status = h('div');
  const zone = h('div', { class: 'dropzone' },
    svg(icons.upload, { size: 28 }),
    h('p', { style: { margin: '8px 0' } }, 'Drop a file here, or'),
    h('label', { for: inputId, class: 'btn' }, 'Choose a file…'),
    input,
    h('p', { class: 'muted small', style: { marginTop: '8px' } }, 'The first row should hold the column names. Phone numbers are best with their country code.'));
  const pick = async (file) => {
    if (!file) return;
    replace(status, h('p', { class: 'muted' }, `Reading ${file.name}…`));
    const form = new FormData();
    form.append('file', file);
    try {
      const preview = await api.post('/api/contacts/import/preview', form);
      mappingStep(body, ctx, file, preview);
    } catch (error) {
      replace(status, errorNotice(error, `${file.name} could not be read.`));
    }
  };
  input.addEventListener('change', () => pick(input.files[0]));
  zone.addEventListener('dragover', (event) => { event.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => { event.preventDefault(); zone.classList.remove('over'); pick(event.dataTransfer.files[0]); });
  replace(body, zone, status);
}

// The preview route answers {format, encoding, delimiter, columns, mapping, rows: [{row, values}], total_rows}.
function normalisePreview(preview) {
  const delimiter = preview.delimiter === '\t' ? 'tab' : preview.delimiter;
  return {
    columns: preview.columns,
    rows: preview.rows.map((r) => ({ number: r.row, cells: preview.columns.map((c) => r.values[c]) })),
    mapping: { ...preview.mapping },
    totalRows: preview.total_rows,
    notes: [preview.format && preview.format.toUpperCase(), preview.encoding && `encoding ${preview.encoding}`, delimiter && `delimiter “${delimiter}”`].filter(Boolean),
  };
}

function mappingStep(body, ctx, file, rawPreview) {
  const preview = normalisePreview(rawPreview);
  const selects = preview.columns.map((column) => {
    const folded = column.trim().normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase();
    const custom = `fields.${folded.replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '').slice(0, 60) || 'field'}`;
    const options = [...BASE_FIELDS, [custom, `Custom field “${column}”`]];
    const current = preview.mapping[column] || 'skip';
    if (current && !options.some(([value]) => value === current)) options.push([current, current]);
    const select = h('select', { 'aria-label': `Column “${column}” is` }, options.map(([value, text]) => h('option', { value, selected: value === current }, text)));
    select.dataset.column = column;
    return select;
  });
  const mappingGrid = h('div', { class: 'mapping' }, preview.columns.map((column, i) =>
    h('div', { class: 'field' }, h('span', { class: 'mono small', style: { fontWeight: 600 } }, column), selects[i])));
  const warn = h('div');
  const checkMapping = () => {
    const chosen = selects.map((s) => s.value).filter((v) => v !== 'skip');
    const problems = [];
    if (!chosen.includes('phone') && !chosen.includes('email')) problems.push('Map at least a Phone or an Email column; contacts without either cannot be messaged.');
    const dupes = chosen.filter((v, i) => chosen.indexOf(v) !== i);
    if (dupes.length) problems.push(`More than one column is mapped to ${[...new Set(dupes)].join(', ')}.`);
    replace(warn, problems.length ? h('div', { class: 'notice warn', role: 'alert' }, svg(icons.alert), h('div', {}, problems.map((p) => h('div', {}, p)))) : null);
    importButton.disabled = problems.length > 0;
  };
  const table = h('div', { class: 'table-wrap', style: { maxHeight: '240px' } }, h('table', {},
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '#'), preview.columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, preview.rows.map((row) => h('tr', {}, h('td', { class: 'muted num' }, String(row.number)),
      row.cells.map((cell) => h('td', {}, cell == null ? '' : String(cell))))))));
  const importButton = h('button', { class: 'btn primary', type: 'button', dataset: { action: 'import' } },
    preview.totalRows != null ? `Import ${num(preview.totalRows)} rows` : 'Import');
  const back = h('button', { class: 'btn', type: 'button' }, 'Choose another file');
  const status = h('div');
  selects.forEach((s) => s.addEventListener('change', checkMapping));
  back.addEventListener('click', () => chooseStep(body, ctx));
  importButton.addEventListener('click', () => busy(importButton, async () => {
    const mapping = {};
    for (const s of selects) mapping[s.dataset.column] = s.value;
    const form = new FormData();
    form.append('file', file);
    form.append('mapping', JSON.stringify(mapping));
    try {
      const report = await api.post('/api/contacts/import', form);
      reportStep(body, ctx, file, report);
      ctx.onImported();
    } catch (error) {
      replace(status, errorNotice(error, 'The import did not finish.'));
    }
  }));
  replace(body,
    h('p', {}, h('strong', {}, file.name), ' · ',
      preview.totalRows != null ? `${num(preview.totalRows)} rows` : `first ${preview.rows.length} rows shown`,
      preview.notes.length ? h('span', { class: 'muted' }, ` · ${preview.notes.join(', ')}`) : null),
    h('h3', {}, 'Confirm what each column holds'),
    mappingGrid, warn,
    h('h3', {}, 'First rows'), table, status,
    h('div', { class: 'row end' }, back, importButton));
  checkMapping();
}

function reportStep(body, ctx, file, report) {
  const { errors, warnings } = report;
  // Each rejected row is counted once (`skipped`); its reasons are listed below.
  const nothing = report.imported + report.updated === 0;
  const headline = nothing ? `Nothing was imported from ${file.name}.` : `${file.name} imported.`;
  const counts = `${num(report.imported)} new, ${num(report.updated)} updated${report.skipped ? `, ${num(report.skipped)} ${report.skipped === 1 ? 'row' : 'rows'} not imported` : ''}.`;
  const done = h('button', { class: 'btn primary', type: 'button', dataset: { action: 'done' } }, 'Done');
  done.addEventListener('click', ctx.onDone);
  const again = h('button', { class: 'btn', type: 'button' }, 'Import another file');
  again.addEventListener('click', () => chooseStep(body, ctx));
  replace(body,
    h('div', { class: `notice ${nothing ? 'err' : errors.length ? 'warn' : 'ok'}`, role: 'status', dataset: { imported: String(report.imported + report.updated) } },
      svg(errors.length || nothing ? icons.alert : icons.check),
      h('div', {}, h('strong', {}, headline), h('span', {}, counts))),
    h('div', { class: 'stats' },
      stat('New', report.imported, 'ok'), stat('Updated', report.updated, ''), stat('Not imported', report.skipped, report.skipped ? 'err' : '')),
    problemTable('Rows not imported, and why', 'import-errors', errors),
    problemTable('Imported, but a value was left out or needs a look', 'import-warnings', warnings),
    h('div', { class: 'row end' }, again, done));
  done.focus();
}

function problemTable(title, className, problems) {
  if (!problems.length) return null;
  return h('div', { class: 'stack' }, h('h3', {}, title),
    h('div', { class: 'table-wrap', style: { maxHeight: '260px' } }, h('table', { class: className },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Row'), h('th', { scope: 'col' }, 'Column'), h('th', { scope: 'col' }, 'Reason'))),
      h('tbody', {}, problems.map((e) => h('tr', {}, h('td', { class: 'num' }, e.row ?? ''), h('td', {}, e.column || ''), h('td', {}, e.reason)))))));
}

function stat(label, value, tone) {
  return h('div', { class: `stat ${tone}` }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, num(value ?? 0)));
}
