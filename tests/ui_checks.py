"""What every screen is checked for in the browser, as scripts (tests/js/) run in the page:

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

from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).parent / "js"
_COMMON = (SCRIPTS / "common.js").read_text(encoding="utf-8")
_CONTRAST = _COMMON + (SCRIPTS / "contrast.js").read_text(encoding="utf-8")
_TARGETS = _COMMON + (SCRIPTS / "targets.js").read_text(encoding="utf-8")


def contrast_failures(driver: Any) -> list[str]:
    return list(driver.execute_script(_CONTRAST))


def small_targets(driver: Any) -> list[str]:
    return list(driver.execute_script(_TARGETS))
