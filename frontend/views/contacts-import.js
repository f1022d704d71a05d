// The import flow: choose a file -> preview with the detected column mapping and the country for numbers
// without a + code (each shown as it will be stored) -> the diff of what the import will change, nothing written
// yet -> import -> report of the rows that were rejected (row number, column and reason), with an Undo.

import { api } from '../lib/api.js';
import { browserCountry, countries } from '../lib/countries.js';
import { busy, h, nextId, replace, svg } from '../lib/dom.js';
import { num } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { errorNotice, showError } from '../lib/ui.js';
import { changesTable, countsStats, duplicatesList, undoNotice } from './contacts-import-diff.js';

const BASE_FIELDS = [
  ['skip', 'Ignore this column'],
  ['name', 'Name'],
  ['first_name', 'First name'],
  ['last_name', 'Last name'],
  ['phone', 'Phone'],
  ['email', 'Email'],
  ['timezone', 'Time zone'],
];

export function importPanel({ onDone, onImported }) {
  const body = h('div', { class: 'stack' });
  const panel = h(
    'section',
    { class: 'card stack', style: { marginBottom: '16px' }, 'aria-labelledby': 'import-title' },
    h(
      'div',
      { class: 'card-head', style: { marginBottom: 0 } },
      h('h2', { id: 'import-title' }, 'Import contacts'),
      h('span', { class: 'muted small' }, 'CSV (any delimiter or encoding) or Excel .xlsx, up to 20 MB'),
    ),
    body,
  );
  chooseStep(body, { onDone, onImported });
  return panel;
}

function chooseStep(body, ctx) {
  const inputId = nextId('file');
  const input = h('input', { type: 'file', id: inputId, accept: '.csv,.tsv,.txt,.xlsx,text/csv', class: 'sr-only' });
  const status = h('div');
  const zone = h(
    'div',
    { class: 'dropzone' },
    svg(icons.upload, { size: 28 }),
    h('p', { style: { margin: '8px 0' } }, 'Drop a file here, or'),
    h('label', { for: inputId, class: 'btn' }, 'Choose a file…'),
    input,
    h(
      'p',
      { class: 'muted small', style: { marginTop: '8px' } },
      'The first row should hold the column names. Phone numbers are best with their country code.',
    ),
  );
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
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    pick(event.dataTransfer.files[0]);
  });
  replace(body, zone, status);
}

// The preview route answers {format, encoding, delimiter, columns, mapping, rows: [{row, values, phone?}],
// total_rows, phone_column, phones_without_country, default_country, account_country}.
function normalisePreview(preview) {
  const delimiter = preview.delimiter === '\t' ? 'tab' : preview.delimiter;
  return {
    columns: preview.columns,
    rows: preview.rows.map((r) => ({ number: r.row, cells: preview.columns.map((c) => r.values[c]), phone: r.phone })),
    mapping: { ...preview.mapping },
    totalRows: preview.total_rows,
    phoneColumn: preview.phone_column,
    local: preview.phones_without_country || 0,
    country: preview.default_country,
    accountCountry: preview.account_country,
    notes: [
      preview.format && preview.format.toUpperCase(),
      preview.encoding && `encoding ${preview.encoding}`,
      delimiter && `delimiter “${delimiter}”`,
    ].filter(Boolean),
  };
}

async function fetchPreview(file, mapping, country) {
  const form = new FormData();
  form.append('file', file);
  if (mapping) form.append('mapping', JSON.stringify(mapping));
  if (country) form.append('default_country', country);
  return normalisePreview(await api.post('/api/contacts/import/preview', form));
}

function mappingSelects(preview) {
  return preview.columns.map((column) => {
    const folded = column
      .trim()
      .normalize('NFKD')
      .replace(/\p{M}+/gu, '')
      .toLowerCase();
    const custom = `fields.${
      folded
        .replace(/[^a-z0-9]+/g, '_')
        .replace(/^_|_$/g, '')
        .slice(0, 60) || 'field'
    }`;
    const options = [...BASE_FIELDS, [custom, `Custom field “${column}”`]];
    const current = preview.mapping[column] || 'skip';
    if (current && !options.some(([value]) => value === current)) options.push([current, current]);
    const select = h(
      'select',
      { 'aria-label': `Column “${column}” is` },
      options.map(([value, text]) => h('option', { value, selected: value === current }, text)),
    );
    select.dataset.column = column;
    return select;
  });
}

// "5 numbers have no + country code: read them as [France]": the country the file's local numbers are in,
// from the account's setting or else the browser's language; with a box to keep it as the account's default.
function countryBox(onChange) {
  const select = h(
    'select',
    { name: 'import_country', 'aria-label': 'Country of numbers without a + code' },
    h('option', { value: '' }, 'No country: refuse them'),
    countries().map(([code, name]) => h('option', { value: code }, `${name} (${code})`)),
  );
  const keep = h('input', { type: 'checkbox', name: 'keep_country' });
  const keepLabel = h('label', { class: 'small' }, keep, ' Use it for every import and new contact (Settings)');
  const text = h('span');
  const box = h(
    'div',
    { class: 'notice warn country-ask', dataset: { local: '0' } },
    svg(icons.alert),
    h('div', { class: 'stack' }, h('label', {}, text, ' ', select), keepLabel),
  );
  select.addEventListener('change', () => onChange(select.value));
  return {
    box,
    select,
    keep: () => keep.checked && select.value,
    show(preview) {
      box.hidden = !preview.local;
      box.dataset.local = String(preview.local);
      text.textContent = `${num(preview.local)} ${preview.local === 1 ? 'number has' : 'numbers have'} no + country code: read them as`;
      keepLabel.hidden = Boolean(preview.accountCountry) && preview.accountCountry === select.value;
    },
  };
}

function rowsTable(preview) {
  const withPhone = Boolean(preview.phoneColumn);
  return h(
    'div',
    { class: 'table-wrap', style: { maxHeight: '240px' } },
    h(
      'table',
      { class: 'import-rows' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, '#'),
          preview.columns.map((c) => h('th', { scope: 'col' }, c)),
          withPhone ? h('th', { scope: 'col' }, 'Phone as stored') : null,
        ),
      ),
      h(
        'tbody',
        {},
        preview.rows.map((row) =>
          h(
            'tr',
            {},
            h('td', { class: 'muted num' }, String(row.number)),
            row.cells.map((cell) => h('td', {}, cell == null ? '' : String(cell))),
            withPhone
              ? h(
                  'td',
                  { class: 'stored-phone nowrap' },
                  !row.phone
                    ? ''
                    : row.phone.stored
                      ? h('span', { class: 'num' }, row.phone.stored)
                      : h('span', { class: 'err-text small' }, row.phone.problem || '—'),
                )
              : null,
          ),
        ),
      ),
    ),
  );
}

function mappingStep(body, ctx, file, rawPreview) {
  let preview = normalisePreview(rawPreview);
  const selects = mappingSelects(preview);
  const chosenMapping = () => Object.fromEntries(selects.map((s) => [s.dataset.column, s.value]));
  const mappingGrid = h(
    'div',
    { class: 'mapping' },
    preview.columns.map((column, i) =>
      h('div', { class: 'field' }, h('span', { class: 'mono small', style: { fontWeight: 600 } }, column), selects[i]),
    ),
  );
  const warn = h('div');
  const tableBox = h('div');
  const refresh = async () => {
    try {
      preview = await fetchPreview(file, chosenMapping(), country.select.value);
      replace(tableBox, rowsTable(preview));
      country.show(preview);
    } catch (error) {
      replace(status, errorNotice(error, 'The preview could not be read again.'));
    }
  };
  const country = countryBox(refresh);
  const checkButton = h(
    'button',
    { class: 'btn primary', type: 'button', dataset: { action: 'check-import' } },
    preview.totalRows != null ? `Check ${num(preview.totalRows)} rows` : 'Check the rows',
  );
  const checkMapping = () => {
    const chosen = selects.map((s) => s.value).filter((v) => v !== 'skip');
    const problems = [];
    if (!chosen.includes('phone') && !chosen.includes('email'))
      problems.push('Map at least a Phone or an Email column; contacts without either cannot be messaged.');
    const dupes = chosen.filter((v, i) => chosen.indexOf(v) !== i);
    if (dupes.length) problems.push(`More than one column is mapped to ${[...new Set(dupes)].join(', ')}.`);
    replace(
      warn,
      problems.length
        ? h(
            'div',
            { class: 'notice warn', role: 'alert' },
            svg(icons.alert),
            h(
              'div',
              {},
              problems.map((p) => h('div', {}, p)),
            ),
          )
        : null,
    );
    checkButton.disabled = problems.length > 0;
    return !problems.length;
  };
  const back = h('button', { class: 'btn', type: 'button' }, 'Choose another file');
  const status = h('div');
  selects.forEach((s) =>
    s.addEventListener('change', () => {
      if (checkMapping()) refresh();
    }),
  );
  back.addEventListener('click', () => chooseStep(body, ctx));
  checkButton.addEventListener('click', () =>
    busy(checkButton, async () => {
      const options = { mapping: chosenMapping(), country: country.select.value, keepCountry: country.keep() };
      try {
        const diff = await runImport(file, options, true);
        diffStep(body, ctx, file, options, diff);
      } catch (error) {
        replace(status, errorNotice(error, 'The rows could not be checked.'));
      }
    }),
  );
  replace(
    body,
    h(
      'p',
      {},
      h('strong', {}, file.name),
      ' · ',
      preview.totalRows != null ? `${num(preview.totalRows)} rows` : `first ${preview.rows.length} rows shown`,
      preview.notes.length ? h('span', { class: 'muted' }, ` · ${preview.notes.join(', ')}`) : null,
    ),
    h('h3', {}, 'Confirm what each column holds'),
    mappingGrid,
    warn,
    country.box,
    h('h3', {}, 'First rows'),
    tableBox,
    status,
    h('div', { class: 'row end' }, back, checkButton),
  );
  checkMapping();
  // The account's country, else the browser's: numbers are shown as they will be stored before anything else.
  const guess = preview.country || browserCountry() || '';
  country.select.value = guess;
  if (guess && guess !== preview.country && preview.local) refresh();
  else {
    replace(tableBox, rowsTable(preview));
    country.show(preview);
  }
}

async function runImport(file, { mapping, country }, dryRun) {
  const form = new FormData();
  form.append('file', file);
  form.append('mapping', JSON.stringify(mapping));
  if (country) form.append('default_country', country);
  if (dryRun) form.append('dry_run', '1');
  return api.post('/api/contacts/import', form);
}

// What the import will do, before it does it: the diff; "Import" writes it (and keeps the country if asked).
function diffStep(body, ctx, file, options, diff) {
  const writes = diff.imported + diff.updated;
  const go = h(
    'button',
    { class: 'btn primary', type: 'button', dataset: { action: 'import' }, disabled: writes === 0 },
    writes ? `Import: ${num(diff.imported)} new, ${num(diff.updated)} updated` : 'Nothing to import',
  );
  const back = h('button', { class: 'btn', type: 'button' }, 'Back to the columns');
  const status = h('div');
  back.addEventListener('click', () => pickAgain(body, ctx, file));
  go.addEventListener('click', () =>
    busy(go, async () => {
      try {
        const report = await runImport(file, options, false);
        if (options.keepCountry)
          await api.put('/api/settings', { default_country: options.keepCountry }).catch(showError);
        reportStep(body, ctx, file, report);
        ctx.onImported();
      } catch (error) {
        replace(status, errorNotice(error, 'The import did not finish. Nothing was imported.'));
      }
    }),
  );
  const headline = writes ? 'Check what this import will change' : `Nothing in ${file.name} changes your contacts`;
  replace(
    body,
    h(
      'div',
      { class: 'notice info', role: 'status', dataset: { diff: String(writes) } },
      svg(icons.alert),
      h('div', {}, h('strong', {}, headline), h('span', {}, ' Nothing has been written yet.')),
    ),
    countsStats(diff),
    changesTable(diff),
    duplicatesList(diff),
    problemTable('Rows that will not be imported, and why', 'diff-errors', diff.errors),
    problemTable('Imported, but a value is left out or needs a look', 'diff-warnings', diff.warnings),
    status,
    h('div', { class: 'row end' }, back, go),
  );
  go.focus();
}

async function pickAgain(body, ctx, file) {
  try {
    const form = new FormData();
    form.append('file', file);
    mappingStep(body, ctx, file, await api.post('/api/contacts/import/preview', form));
  } catch (error) {
    showError(error);
  }
}

function reportStep(body, ctx, file, report) {
  const { errors, warnings } = report;
  // Each rejected row is counted once (`skipped`); its reasons are listed below.
  const nothing = report.imported + report.updated === 0;
  const headline = nothing ? `Nothing was imported from ${file.name}.` : `${file.name} imported.`;
  const counts = `${num(report.imported)} new, ${num(report.updated)} updated${report.unchanged ? `, ${num(report.unchanged)} unchanged` : ''}${report.skipped ? `, ${num(report.skipped)} ${report.skipped === 1 ? 'row' : 'rows'} not imported` : ''}.`;
  const done = h('button', { class: 'btn primary', type: 'button', dataset: { action: 'done' } }, 'Done');
  done.addEventListener('click', ctx.onDone);
  const again = h('button', { class: 'btn', type: 'button' }, 'Import another file');
  again.addEventListener('click', () => chooseStep(body, ctx));
  replace(
    body,
    h(
      'div',
      {
        class: `notice ${nothing ? 'err' : errors.length ? 'warn' : 'ok'}`,
        role: 'status',
        dataset: { imported: String(report.imported + report.updated) },
      },
      svg(errors.length || nothing ? icons.alert : icons.check),
      h('div', {}, h('strong', {}, headline), h('span', {}, counts)),
    ),
    countsStats(report),
    nothing
      ? null
      : undoNotice(report.import, () => {
          chooseStep(body, ctx);
          ctx.onImported();
        }),
    problemTable('Rows not imported, and why', 'import-errors', errors),
    problemTable('Imported, but a value was left out or needs a look', 'import-warnings', warnings),
    h('div', { class: 'row end' }, again, done),
  );
  done.focus();
}

function problemTable(title, className, problems) {
  if (!problems.length) return null;
  return h(
    'div',
    { class: 'stack' },
    h('h3', {}, title),
    h(
      'div',
      { class: 'table-wrap', style: { maxHeight: '260px' } },
      h(
        'table',
        { class: className },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, 'Row'),
            h('th', { scope: 'col' }, 'Column'),
            h('th', { scope: 'col' }, 'Reason'),
          ),
        ),
        h(
          'tbody',
          {},
          problems.map((e) =>
            h('tr', {}, h('td', { class: 'num' }, e.row ?? ''), h('td', {}, e.column || ''), h('td', {}, e.reason)),
          ),
        ),
      ),
    ),
  );
}
