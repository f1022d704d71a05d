"""A process that only delivers outgoing webhooks, for the several-processes test: `python -m
tests.webhook_process DATA_DIR DATABASE_URL STOP_FILE`. It passes over the endpoints until STOP_FILE exists
(or a minute has gone), then prints how many endpoint passes it worked."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from backend.app import create_app
from backend.config import Config


def main() -> None:
    data_dir, url, stop_file = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    app = create_app(Config(data_dir=data_dir, database_url=url, port=0, jobs=False, testing=True))
    worker = app.extensions["bulkmsg"].webhooks_out
    deadline = time.monotonic() + 60
    passes = 0
    while time.monotonic() < deadline and not stop_file.exists():
        passes += worker.run_once()
        time.sleep(0.01)
    print(f"worked {passes} endpoint passes", flush=True)


if __name__ == "__main__":
    main()
