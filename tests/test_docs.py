"""The README documents every setting the code reads, and the set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _variables_in(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        found |= set(re.findall(r"BULKMSG_[A-Z_]+", path.read_text(encoding="utf-8")))
    return found


def test_it_documents_every_environment_variable() -> None:
    code = _variables_in(sorted((ROOT / "backend").rglob("*.py")))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = sorted(v for v in code if f"`{v}`" not in readme)
    assert missing == [], f"README.md does not document {missing}"


def test_it_gives_the_two_set_up_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci and "BULKMSG_REQUIRE_ALL=1" in ci
