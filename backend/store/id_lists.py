"""`column IN (ids)` with the ids as ONE bound parameter, for lists of any length.

SQLAlchemy's `in_(list)` binds one parameter per id: SQLite refuses more than 32,766, PostgreSQL plans a
25,000-element list slowly, and rendering the parameters costs about 8 microseconds an id in Python. Here the
list travels as one value: a JSON array read with `json_each` on SQLite, a bigint array (`= ANY`) on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ARRAY, BigInteger, ColumnElement, any_, bindparam, func, literal_column, select
from sqlalchemy.orm import Session


def among(session: Session, column: Any, ids: Iterable[int], name: str = "ids") -> ColumnElement[bool]:
    """`column` is one of `ids` (integers), bound as the single parameter `name`."""
    values = list(ids)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(name, values, type_=ARRAY(BigInteger)))  # type: ignore[no-any-return]
    each = func.json_each(json.dumps(values)).table_valued("value")
    return column.in_(select(literal_column("value")).select_from(each))  # type: ignore[no-any-return]
