"""How fast the packaged app shows the dashboard, against the source install measured in the same run.

    .venv/bin/python packaging/start_time.py [--runs 3]

Needs `make dist` first. Each run starts the window offscreen with `--screenshot` (it closes itself once the
dashboard has painted) in a clean environment with an existing data directory (a first, untimed run of each
creates it), alternating packaged and source runs so both see the same machine load. Prints JSON lines
`{"bench","metric","value","unit","baseline","ratio"}`: the best of the runs, from process spawn to the
dashboard (`spawn_to_dashboard_s`) and from `main()` to the dashboard (`main_to_dashboard_s`, as the desktop
test reports it); the baseline is the source install (`python -m bulkmsg_desktop.app`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dist" / "BulkMessenger" / "BulkMessenger"
RUN_TIMEOUT_S = 90


def start_once(command: list[str], home: Path, cwd: Path) -> dict[str, float]:
    shot, report = home / "shot.png", home / "report.json"
    report.unlink(missing_ok=True)
    env = {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "QT_QPA_PLATFORM": "offscreen",
        "QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox",
        "BULKMSG_LOG_LEVEL": "WARNING",
        "PATH": os.defpath,
    }
    spawned = time.time()
    done = subprocess.run(
        [*command, "--screenshot", str(shot), "--report", str(report)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    if done.returncode != 0 or not report.exists():
        raise SystemExit(f"{command[0]} did not show the dashboard (exit {done.returncode}): {done.stderr[-500:]}")
    data = json.loads(report.read_text())
    return {"spawn_to_dashboard_s": data["dashboard_at"] - spawned, "main_to_dashboard_s": data["dashboard_s"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not APP.is_file():
        raise SystemExit(f"{APP} is missing: run make dist first.")
    commands = {"packaged": [str(APP)], "source": [sys.executable, "-m", "bulkmsg_desktop.app"]}
    best: dict[str, dict[str, float]] = {name: {} for name in commands}
    with tempfile.TemporaryDirectory(prefix="bulkmsg-start-") as scratch:
        homes = {name: Path(scratch) / name for name in commands}
        for name, command in commands.items():
            homes[name].mkdir()
            start_once(command, homes[name], ROOT)  # creates the database; not timed
        for _ in range(args.runs):
            for name, command in commands.items():
                cwd = ROOT if name == "source" else homes[name]  # the packaged app runs outside the source tree
                for metric, value in start_once(command, homes[name], cwd).items():
                    best[name][metric] = min(value, best[name].get(metric, value))
    for metric in ("spawn_to_dashboard_s", "main_to_dashboard_s"):
        value, baseline = best["packaged"][metric], best["source"][metric]
        line = {"bench": "desktop_start", "metric": metric, "value": round(value, 3), "unit": "s"}
        line |= {"baseline": round(baseline, 3), "ratio": round(value / baseline, 3)}
        sys.stdout.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
