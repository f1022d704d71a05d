"""What every request and response gets, whatever the route (DESIGN section 11):

- security headers on every response: a Content-Security-Policy that allows only our own scripts, styles and
  connections (no inline script), `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`, no referrer;
- JSON bodies parsed with a nesting limit (`MAX_JSON_DEPTH`): a body nested 100,000 deep is a 400, not a
  RecursionError;
- `<int:...>` in routes matches only ids the store can hold (at most 2**63 - 1), so a 30-digit id is a 404 rather
  than an overflow in the database driver.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

#: deepest nesting of arrays and objects a JSON body may have.
MAX_JSON_DEPTH = 64
#: largest id a route accepts (a signed 64-bit integer, the store's id type).
MAX_ID = 2**63 - 1

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def is_store_id(value: Any) -> bool:
    """True for a whole number the store can hold as an id (1 to 2**63 - 1); JSON true/false are not ids."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


class JsonTooDeep(ValueError):
    pass


def json_depth_ok(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when no array or object in `text` is nested deeper than `limit` (brackets inside strings ignored)."""
    data = text.decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else text
    if data.count("[") + data.count("{") <= limit:
        return True
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", data))
    depth = 0
    for char in brackets:
        depth += 1 if char in "[{" else -1
        if depth > limit:
            return False
    return True


def loads_bounded(text: str | bytes, **kwargs: Any) -> Any:
    """json.loads, refusing (ValueError) a document nested deeper than MAX_JSON_DEPTH."""
    if not json_depth_ok(text):
        raise JsonTooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return json.loads(text, **kwargs)


class BoundedJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_bounded(s, **kwargs)


class StoreIdConverter(IntegerConverter):
    """`<int:id>` limited to ids the store can hold."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def install_hardening(app: Flask) -> None:
    """Call before any blueprint is registered (the id converter applies to routes added after it)."""
    app.json = BoundedJSONProvider(app)
    app.json.sort_keys = False
    app.url_map.converters["int"] = StoreIdConverter

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
