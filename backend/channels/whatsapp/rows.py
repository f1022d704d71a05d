"""Reading the message rows of the open chat: their ids, direction, text and ticks, on both page generations.

A row is the element carrying the message's `data-id` (2026: `#main [data-id]`, also `data-testid="conv-msg-<id>"`;
2025: the wrapper inside `div[role="row"]`). Its direction: 2025 `div.message-out` / `div.message-in` inside it;
2026 has no such classes, so a row is ours when it carries our "You:" label or a status tick, and incoming
otherwise (DESIGN section 8). Ticks are read from the aria-label first and the icon second (`selectors.tick_status`:
`wds-ic-delivered` is the single tick). Ids are opaque (`true_<n>@c.us_<hex>`, `true_<opaque>@lid_<hex>`, a bare
20-32 character id): the recipient is always kept beside the id, never read out of it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.remote.webdriver import WebDriver

from backend.channels.whatsapp import selectors as sel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Row:
    """One message row as the page shows it."""

    row_id: str
    status: str | None
    text: str | None
    #: "[10:54, 30/11/2026] Sender: " as the page writes it before the text (None when it has none).
    meta: str | None = None
    outgoing: bool = False

    @property
    def time(self) -> str | None:
        """The time and date the page shows for the message ("10:54, 30/11/2026"), as the page writes them."""
        match = re.match(r"\[([^\]]+)\]", self.meta or "")
        return match.group(1) if match else None


_READ_ROWS = """
const [rowAlts, outAlts, inAlts, ownAlts, tickAlts, textAlts, idAttr, metaAttr] = arguments;
const first = (root, alts) => { for (const c of alts) { try { const f = root.querySelectorAll(c);
  if (f.length) return Array.from(f); } catch (e) {} } return []; };
const has = (root, alts) => { for (const c of alts) { try { if (root.matches(c) || root.querySelector(c))
  return true; } catch (e) {} } return false; };
const blue = (el) => { const m = /rgba?\\((\\d+), *(\\d+), *(\\d+)/.exec(getComputedStyle(el).color || "");
  return !!m && +m[3] > 150 && +m[3] > +m[1] + 60; };
const tickOf = (el) => { const svg = el.tagName.toLowerCase() === "svg" ? el : el.querySelector("svg");
  const title = svg ? svg.querySelector(":scope > title") : null;
  return [el.getAttribute("data-icon"), el.getAttribute("aria-label"), title ? title.textContent : null,
          blue(svg || el)]; };
const rows = first(document, rowAlts).filter(r => r.getAttribute(idAttr)
  && !(r.parentElement && r.parentElement.closest("[" + idAttr + "]")));
return rows.map(row => {
  const ticks = [];
  const taken = new Set();
  for (const c of tickAlts) { let f = []; try { f = row.querySelectorAll(c); } catch (e) { continue; }
    for (const el of f) { if (!taken.has(el)) { taken.add(el); ticks.push(tickOf(el)); } } }
  const text = first(row, textAlts)[0];
  const meta = row.querySelector("[" + metaAttr + "]");
  return [row.getAttribute(idAttr), has(row, outAlts), has(row, inAlts), has(row, ownAlts), ticks,
          text ? text.innerText : null, meta ? meta.getAttribute(metaAttr) : null];
});
"""


def read_rows(driver: WebDriver) -> list[Row]:
    """Every message row of the open chat, in page order (one browser round trip)."""
    raw = driver.execute_script(
        _READ_ROWS,
        list(sel.MESSAGE_ROW.css),
        list(sel.OUTGOING.css),
        list(sel.INCOMING.css),
        list(sel.OWN_LABEL.css),
        list(sel.TICK.css),
        list(sel.MESSAGE_TEXT.css),
        sel.ROW_ID_ATTRIBUTE,
        sel.MESSAGE_META_ATTRIBUTE,
    )
    rows = []
    for row_id, out_class, in_class, own_label, ticks, text, meta in raw or []:
        status = next((s for t in ticks or [] if (s := sel.tick_status(*t)) is not None), None)
        # 2026 has no direction classes: ours carry "You:" or a status; anything else is read as incoming.
        outgoing = bool(out_class) or (not in_class and (bool(own_label) or status is not None))
        rows.append(Row(str(row_id), status if outgoing else None, text, meta, outgoing))
    return rows


def read_outgoing(driver: WebDriver) -> list[Row]:
    """Every outgoing message row on the page, in page order."""
    return [row for row in read_rows(driver) if row.outgoing]


def read_incoming(driver: WebDriver) -> list[Row]:
    """Every incoming message row on the page, in page order (status is None)."""
    return [row for row in read_rows(driver) if not row.outgoing]


def read_row_status(driver: WebDriver, row_id: str) -> str | None:
    """`pending` `sent` `delivered` `read` `failed` for the row with this id, None if the page can't tell."""
    try:
        for row in read_outgoing(driver):
            if row.row_id == row_id:
                return row.status
    except WebDriverException as exc:
        log.debug("reading ticks of %s failed: %s", row_id, exc)
    return None
