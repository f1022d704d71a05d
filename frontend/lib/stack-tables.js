// Tables as stacked cards on a phone (style.css, below 600 px): each row becomes a card and each cell shows its
// column's name before its value. CSS cannot read a header's text, so every cell gets it as `data-label`; a
// MutationObserver labels the cells of any table a view draws or redraws (lists refresh live), so no view has to
// remember to.

const CELLS = '.table-wrap td:not([data-label])';

function columnNames(table) {
  const names = [];
  for (const th of table.querySelectorAll('thead tr:first-child th')) {
    const span = Number(th.colSpan) || 1;
    const text = (th.getAttribute('aria-label') || th.textContent || '').trim();
    for (let i = 0; i < span; i += 1) names.push(text);
  }
  return names;
}

export function labelCells(root = document) {
  const names = new Map();
  for (const td of root.querySelectorAll(CELLS)) {
    const table = td.closest('table');
    if (!names.has(table)) names.set(table, columnNames(table));
    const columns = names.get(table);
    let index = 0;
    for (let cell = td.previousElementSibling; cell; cell = cell.previousElementSibling)
      index += Number(cell.colSpan) || 1;
    // A cell across several columns (an "empty" line) and the buttons' cell keep no label.
    td.dataset.label = (Number(td.colSpan) || 1) > 1 || td.classList.contains('actions') ? '' : columns[index] || '';
  }
}

export function startStackedTables(root = document.body) {
  let queued = false;
  const run = () => {
    queued = false;
    labelCells(root);
  };
  new MutationObserver(() => {
    if (!queued) {
      queued = true;
      requestAnimationFrame(run);
    }
  }).observe(root, { childList: true, subtree: true });
  labelCells(root);
}
