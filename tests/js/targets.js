// Controls whose target is under 24 x 24 px, WCAG 2.2 SC 2.5.8 (tests/ui_checks.py).
const CONTROLS = 'a[href], button, select, input:not([type=hidden]), textarea, summary, [role=button], [role=tab]';
const inline = (el) => el.tagName === 'A' && getComputedStyle(el).display === 'inline'
  && [...el.parentElement.childNodes].some((n) => n !== el && n.textContent.trim());
const out = [];
for (const el of document.querySelectorAll(CONTROLS)) {
  if (!visible(el) || inline(el)) continue;
  let r = el.getBoundingClientRect();
  const label = el.closest('label') || (el.labels && el.labels[0]);
  if (label && ['checkbox', 'radio'].includes(el.type) && visible(label)) r = label.getBoundingClientRect();
  if (r.width < 23.5 || r.height < 23.5) {
    out.push(`${Math.round(r.width)}x${Math.round(r.height)} ${name(el)} "${(el.innerText || el.getAttribute('aria-label') || el.name || '').trim().slice(0, 40)}"`);
  }
}
return out;
