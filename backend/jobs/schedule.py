"""A periodic job: what a capability's `install` registers and the runtime's scheduler runs (`backend.runtime`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable[[], Any]
    seconds: float
