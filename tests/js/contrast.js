// WCAG 2.x contrast of every visible text and placeholder against what is painted behind it (tests/ui_checks.py).
const backdrop = (el) => {
  const layers = [];
  let opacity = 1;
  for (let node = el; node; node = node.parentElement) {
    const s = getComputedStyle(node);
    opacity *= +s.opacity;
    const bg = parse(s.backgroundColor);
    if (bg && bg[3] > 0) layers.push(bg);
    if (bg && bg[3] >= 1) break;
  }
  let color = parse(getComputedStyle(document.documentElement).backgroundColor) || [255, 255, 255, 1];
  if (color[3] < 1) color = over(color, [255, 255, 255, 1]);
  for (const layer of layers.reverse()) color = over(layer, color);
  return [color, opacity];
};
const lum = (c) => {
  const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
const check = (el, textColor, what, out) => {
  const s = getComputedStyle(el);
  const [bg, opacity] = backdrop(el);
  const fg = parse(textColor);
  if (!fg) return;
  const shown = over([fg[0], fg[1], fg[2], fg[3] * opacity], bg);
  const size = parseFloat(s.fontSize);
  const large = size >= 24 || (size >= 18.66 && +s.fontWeight >= 700);
  const got = ratio(shown, bg);
  if (got < (large ? 3 : 4.5)) out.push(`${got.toFixed(2)}:1 ${name(el)} "${what.slice(0, 40)}" ${textColor} on rgb(${bg.slice(0, 3).map(Math.round)})`);
};
const out = [];
const seen = new Set();
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const el = node.parentElement;
  const text = node.textContent.trim();
  if (!text || !el || seen.has(el) || ['SCRIPT', 'STYLE', 'OPTION', 'TITLE'].includes(el.tagName)) continue;
  seen.add(el);
  if (!visible(el) || el.closest(':disabled, [aria-disabled="true"]')) continue;
  check(el, getComputedStyle(el).color, text, out);
}
for (const el of document.querySelectorAll('input[placeholder], textarea[placeholder]')) {
  if (!el.placeholder || el.value || !visible(el) || el.disabled) continue;
  check(el, getComputedStyle(el, '::placeholder').color, `placeholder ${el.placeholder}`, out);
}
for (const el of document.querySelectorAll('select, input:not([type=checkbox]):not([type=radio]):not([type=hidden])')) {
  if (!visible(el) || el.disabled || (el.tagName !== 'SELECT' && !el.value)) continue;
  check(el, getComputedStyle(el).color, el.value || el.tagName, out);
}
return out;
