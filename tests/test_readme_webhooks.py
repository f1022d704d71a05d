"""The README's webhook receiver, run as written (on a free port), verifies a real delivery and refuses a forged one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import requests

from tests.helpers import wait_for
from tests.ui_support import free_port
from tests.webhook_support import add_endpoint, default_account

README = Path(__file__).resolve().parent.parent / "README.md"


def receiver_source() -> str:
    section = README.read_text(encoding="utf-8").split("## Use it from another program", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README has no Python receiver"
    return match.group(1)


def test_it_runs_the_readme_receiver_and_it_verifies_a_delivery(client, auth, services, clock, tmp_path) -> None:
    port = free_port()
    script = tmp_path / "receiver.py"
    script.write_text(receiver_source().replace("8000", str(port)), encoding="utf-8")
    hook = add_endpoint(client, auth, f"http://127.0.0.1:{port}/hook", ["campaign.status"])
    env = {**os.environ, "BULKMSG_WEBHOOK_SECRET": hook["secret"], "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        http = requests.Session()
        http.trust_env = False

        def up() -> bool:
            try:
                return http.post(f"http://127.0.0.1:{port}/", data=b"{}", timeout=2).status_code == 400
            except requests.ConnectionError:
                return False

        wait_for(up, timeout=20, interval=0.2, what="the README receiver to answer")  # a forged call: 400
        services.hub.emit(default_account(services), "campaign.status", "Done", data={"status": "completed"})
        services.webhooks_out.run_once()
        [delivery] = client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=auth).get_json()["items"]
        assert delivery["status"] == "succeeded" and delivery["response_status"] == 204
    finally:
        proc.terminate()
        out, _err = proc.communicate(timeout=10)
    assert re.search(r"msg_\S+ campaign.status \{'status': 'completed'\}", out)
