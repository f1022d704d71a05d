"""Prepared hot-path statements: a Core statement compiled once per dialect, run on the DBAPI cursor.

The dispatcher runs a fenced finish per message and a claim and campaign counters per batch. Through
`Connection.execute` each costs 100-150 us of SQLAlchemy work (cache key, execution context, parameter and result
processing objects) on top of the database's own 20-50 us; a bulk run pays that thousands of times a second.
`Prepared` keeps the statement as SQLAlchemy built it (the same SQL text, the same bind and result processors:
UTCDateTime, JSON) and only skips the per-call machinery: it renders the parameters in the driver's style and
executes on the raw cursor of the session's connection, inside the session's transaction.

Contract: `Prepared(stmt).run(connection, params)` -> (rows as tuples with result processors applied, rowcount);
`run_many(connection, [params, ...])` runs the statement once per parameter set (executemany), returning nothing.
Statements with expanding (IN-list) parameters are not supported (use `Connection.execute` for those).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect

_Processor = Callable[[Any], Any] | None
_MISSING = object()


class _Compiled:
    def __init__(self, stmt: Any, dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        if any(getattr(b, "expanding", False) for b in compiled.binds.values()):
            raise ValueError("expanding parameters are not supported by Prepared")
        self.sql: str = compiled.string
        self.positional: bool = bool(compiled.positional)
        self.order: list[str] = list(compiled.positiontup or [])
        #: literal values SQLAlchemy bound itself ('queued', LIMIT 1 ...), by bind name.
        self.defaults: dict[str, Any] = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        #: columns whose Python-side default (`onupdate=utcnow`, `default=`) SQLAlchemy computes per execution.
        self.prefetch = [
            (c.key, c.onupdate or c.default) for c in (*compiled.insert_prefetch, *compiled.update_prefetch)
        ]
        self.bind_processors: dict[str, Callable[[Any], Any]] = {
            name: proc for name, proc in compiled._bind_processors.items() if proc is not None
        }
        self.result_processors: list[_Processor] = [
            column[3].dialect_impl(dialect).result_processor(dialect, None) for column in compiled._result_columns
        ]
        self.has_processors = any(p is not None for p in self.result_processors)

    def parameters(self, params: dict[str, Any], memo: dict[int, Any] | None = None) -> Any:
        """The driver's parameters for `params`. With `memo` (one executemany's parameter sets, all alive at once)
        a datetime object shared by many sets, such as the batch's `now`, is converted once."""
        values = {**self.defaults, **params}
        for name, default in self.prefetch:
            if values.get(name) is None and default is not None:
                values[name] = default.arg(None) if default.is_callable else default.arg
        for name, process in self.bind_processors.items():
            if name in values:
                value = values[name]
                if memo is not None and isinstance(value, datetime):
                    converted = memo.get(id(value), _MISSING)
                    if converted is _MISSING:
                        converted = memo[id(value)] = process(value)
                    values[name] = converted
                else:
                    values[name] = process(value)
        if self.positional:
            return tuple(values[name] for name in self.order)
        return values


class Prepared:
    """One Core statement, compiled once per dialect, executed straight on the DBAPI cursor."""

    def __init__(self, stmt: Any) -> None:
        self.stmt = stmt
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.setdefault(dialect.name, _Compiled(self.stmt, dialect))
        return compiled

    def run_many(self, connection: Connection, params: list[dict[str, Any]]) -> None:
        """Execute once per parameter set (the driver's executemany) in `connection`'s current transaction."""
        if not params:
            return
        compiled = self._for(connection.dialect)
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            memo: dict[int, Any] = {}
            cursor.executemany(compiled.sql, [compiled.parameters(p, memo) for p in params])
        finally:
            cursor.close()

    def run(self, connection: Connection, params: dict[str, Any]) -> tuple[list[tuple[Any, ...]], int]:
        """Execute in `connection`'s current transaction; returns (processed rows, rowcount)."""
        compiled = self._for(connection.dialect)
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.sql, compiled.parameters(params))
            rows = cursor.fetchall() if cursor.description else []
            rowcount = cursor.rowcount
        finally:
            cursor.close()
        if rows and compiled.has_processors:
            processors = compiled.result_processors
            rows = [tuple(p(v) if p else v for p, v in zip(processors, row, strict=True)) for row in rows]
        return rows, rowcount
