"""Bounds on what a user stores (DESIGN section 11): custom fields of a contact.

`field_problems(fields)` lists each problem as {"field", "reason"} (empty when the fields are fine): at most
MAX_FIELDS fields, names of at most MAX_FIELD_NAME characters, values that are text, numbers, true/false or null,
text of at most MAX_FIELD_VALUE characters (the importer's cell limit), and MAX_FIELDS_BYTES in all.
"""

from __future__ import annotations

import json
from typing import Any

MAX_FIELDS = 200  # as many as an imported file may have columns
MAX_FIELD_NAME = 64
MAX_FIELD_VALUE = 10_000
MAX_FIELDS_BYTES = 64 * 1024


def field_problems(fields: dict[str, Any]) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    if len(fields) > MAX_FIELDS:
        return [{"field": "fields", "reason": f"at most {MAX_FIELDS} custom fields (this has {len(fields):,})"}]
    for name, value in fields.items():
        label = f"fields.{name[:MAX_FIELD_NAME]}"
        if not name.strip() or len(name) > MAX_FIELD_NAME:
            problems.append({"field": label, "reason": f"a field name has 1 to {MAX_FIELD_NAME} characters"})
        elif value is not None and not isinstance(value, str | int | float | bool):
            problems.append({"field": label, "reason": "must be text, a number, true/false or null"})
        elif isinstance(value, str) and len(value) > MAX_FIELD_VALUE:
            problems.append({"field": label, "reason": f"at most {MAX_FIELD_VALUE:,} characters"})
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
            problems.append({"field": label, "reason": "the number is too large"})
    if not problems and len(json.dumps(fields, ensure_ascii=False).encode()) > MAX_FIELDS_BYTES:
        problems.append(
            {"field": "fields", "reason": f"the custom fields hold more than {MAX_FIELDS_BYTES // 1024} KB"}
        )
    return problems
