"""What every screen is checked for in the browser, as scripts run in the page:

- `contrast_failures(driver)`: each visible piece of text (and each input's placeholder) whose WCAG 2.x contrast
  ratio against what is painted behind it is under 4.5:1 (3:1 for large text: 24 px, or 18.66 px bold). The colours
  are the page's computed styles; a background with alpha is composited over its ancestors' (up to the page's), and
  the text's own alpha and the ancestors' opacity are applied to it. Disabled controls are exempt (WCAG 1.4.3).
- `small_targets(driver)`: each visible control (link, button, select, input, summary) whose target is under
  24 x 24 px (WCAG 2.2 SC 2.5.8). A control's target includes the label around it; links inside running text
  are exempt (the "inline" exception).
Each returns a list of short descriptions, empty when all is well.
"""

from __future__ import annotations

from typing import Any

_COMMON = r"""
const parse = (text) => {
  let m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(text);
  if (m) return [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]];
  m = /color\(srgb ([\d.e-]+) ([\d.e-]+) ([\d.e-]+)(?: \/ ([\d.]+))?\)/.exec(text);
  if (m) return [m[1] * 255, m[2] * 255, m[3] * 255, m[4] === undefined ? 1 : +m[4]];
  return null;
};
const over = (top, bottom) => {
  const a = top[3] + bottom[3] * (1 - top[3]);
  if (!a) return [0, 0, 0, 0];
  return [0, 1, 2].map((i) => (top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3])) / a).concat([a]);
};
const visible = (el) => {
  const r = el.getBoundingClientRect();
  if (r.width < 1 || r.height < 1) return false;
  const s = getComputedStyle(el);
  if (s.visibility !== 'visible' || el.closest('[hidden], .sr-only, .visually-hidden, [inert]')) return false;
  if (s.clip === 'rect(0px, 0px, 0px, 0px)' || s.clipPath === 'inset(50%)') return false;
  return el.checkVisibility ? el.checkVisibility({ opacityProperty: true }) : true;
};
const name = (el) => `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''}`;
"""

_CONTRAST = (
    _COMMON
    + r"""
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
"""
)

_TARGETS = (
    _COMMON
    + r"""
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
"""
)


def contrast_failures(driver: Any) -> list[str]:
    return list(driver.execute_script(_CONTRAST))


def small_targets(driver: Any) -> list[str]:
    return list(driver.execute_script(_TARGETS))
