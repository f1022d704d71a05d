"""What the bounded template sandbox costs, and how fast it refuses hostile templates.

Metrics:
- `render_rate` (renders/s of a two-placeholder template through `compile_template(...).render`; baseline: the
  same template in Jinja2's plain SandboxedEnvironment, measured in the same run);
- `refuse_power_ms` (`{{ 9**(9**8) }}`, which Jinja's optimizer used to fold at compile time for minutes),
  `refuse_loop_ms` (two nested 100,000-step loops: stopped at the 1 s deadline).
Size: BENCH_TEMPLATE_N renders (default 20,000). Each part is bounded; the whole run takes seconds.
"""

from __future__ import annotations

import os
import time

from _common import note, result
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from backend.campaigns.templates import RenderBudget, TemplateError, compile_template

N = int(os.environ.get("BENCH_TEMPLATE_N", "20000"))
SOURCE = "Hello {{ name }}, see you in {{ fields.city }}"
CONTEXT = {"name": "Ana Lima", "fields": {"city": "Porto"}}


def rate(render: object, n: int) -> float:
    assert callable(render)
    started = time.perf_counter()
    for _ in range(n):
        render()
    return n / (time.perf_counter() - started)


def refuse_ms(source: str) -> float:
    started = time.perf_counter()
    try:
        compile_template(source).render(CONTEXT)
    except TemplateError:
        return (time.perf_counter() - started) * 1000
    raise SystemExit(f"not refused: {source}")


def main() -> None:
    plain = SandboxedEnvironment(undefined=StrictUndefined).from_string(SOURCE)
    bounded, budget = compile_template(SOURCE), RenderBudget()
    baseline = rate(lambda: plain.render(CONTEXT), N)
    value = rate(lambda: bounded.render(CONTEXT, budget), N)
    note(f"{N} renders each")
    result("template_render", "render_rate", round(value), "renders/s", round(baseline), round(value / baseline, 3))
    result("template_render", "refuse_power_ms", round(refuse_ms("{{ 9**(9**8) }}"), 2), "ms")
    loop = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    result("template_render", "refuse_loop_ms", round(refuse_ms(loop), 1), "ms")


if __name__ == "__main__":
    main()
