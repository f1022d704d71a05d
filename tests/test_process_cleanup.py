"""Nothing is left running (issue 23 item 7): the WhatsApp reaper ends the chromedriver of its profile with its
Chromium when the app dies, the end-of-run check finds a process the tests left behind, and crash recovery
tells a dead lease owner from a live one (psutil, a zombie counting as dead).

Real parts: chromedriver and headless Chromium started by the product's own `start_browser`, and real child
processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psutil

from backend.channels.whatsapp.browser import BrowserConfig, start_browser
from backend.store.process import owner_is_dead, worker_id
from tests.helpers import require, wait_for
from tests.leftovers import MARKER, leftovers, marked_processes


def test_it_ends_its_chromedriver_with_chromium_when_the_app_dies(tmp_path) -> None:
    require(os.path.exists("/usr/bin/chromedriver"), "chromedriver is not installed")
    browser = start_browser(BrowserConfig(tmp_path / "profile", chromedriver="/usr/bin/chromedriver"))
    driver_process = browser.driver.service.process
    assert driver_process is not None and driver_process.poll() is None
    chromium = [p for p in psutil.Process(driver_process.pid).children() if "chrom" in p.name()]
    assert chromium, "chromedriver started no Chromium"
    try:
        # The app dies without quitting the browser: the kernel closes the reaper's stdin.
        assert browser._reaper.stdin is not None
        browser._reaper.stdin.close()
        assert browser._reaper.wait(timeout=30) == 0
        wait_for(lambda: driver_process.poll() is not None, timeout=15, what="chromedriver to be ended")
        wait_for(lambda: not any(p.is_running() and p.status() != "zombie" for p in chromium), timeout=15)
    finally:
        if driver_process.poll() is None:
            driver_process.kill()
            driver_process.wait(10)


def test_it_finds_and_ends_a_process_the_tests_left_behind() -> None:
    marker = "leftover-check-" + os.urandom(4).hex()
    env = {**os.environ, MARKER: marker}
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env, start_new_session=True)
    try:
        assert [p.pid for p in marked_processes(marker)] == [stray.pid]
        left = leftovers(marker, grace_s=0.5)
        assert len(left) == 1 and left[0].startswith(f"{stray.pid} ") and "time.sleep(60)" in left[0]
        assert stray.wait(timeout=10) != 0  # killed
        assert marked_processes(marker) == []
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait(10)


def test_it_tells_a_dead_lease_owner_from_a_live_one() -> None:
    host = socket.gethostname()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_for(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, timeout=10, what="a zombie")
    assert owner_is_dead(f"{host}:{child.pid}:dispatch-1-smtp"), "an ended (unreaped) process is dead"
    child.wait(10)
    assert owner_is_dead(f"{host}:{child.pid}:dispatch-1-smtp")
    assert not owner_is_dead(worker_id("dispatch-1-smtp"))  # this process
    assert not owner_is_dead(f"{host}:1:dispatch-1-smtp")  # init runs
    assert not owner_is_dead(f"another-host:{child.pid}:dispatch-1-smtp")  # cannot be told from here
