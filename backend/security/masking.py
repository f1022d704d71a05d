"""How a stored secret is shown: never its value, only `MASK` (settings views, redacted provider errors).

A settings form that sends `MASK` back keeps the stored secret.
"""

from __future__ import annotations

from typing import Final

MASK: Final = "****"  # noqa: S105 - a placeholder, not a password
