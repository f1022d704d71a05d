"""What an import changes in a contact it matched, column by column (the import's diff and its undo).

Contract: `values_of(change)` reads a merge update (`_name`, `_phone`, ...) as the contact's values;
`column_changes(old, new)` -> [{"field", "old", "new"}] for each value that differs (custom fields as
`fields.<key>`), empty when the row would leave the contact as it is.
"""

from __future__ import annotations

from typing import Any

#: how many changed contacts and duplicate rows a report lists (the counts cover them all).
LISTED = 200
_BASE = ("name", "phone", "email", "timezone")


def values_of(change: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": change["_name"],
        "phone": change["_phone"],
        "email": change["_email"],
        "timezone": change.get("_tz"),
        "fields": dict(change["_fields"]),
    }


def column_changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    out = [{"field": f, "old": old[f], "new": new[f]} for f in _BASE if (old[f] or None) != (new[f] or None)]
    before, after = old["fields"], new["fields"]
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            out.append({"field": f"fields.{key}", "old": before.get(key), "new": after.get(key)})
    return out
