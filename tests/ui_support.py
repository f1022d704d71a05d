"""Real headless Chromium for the browser tests: a driver, waits on the page, screenshots, console errors."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.helpers import require, wait_for

CHROMIUM = os.environ.get("BULKMSG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("BULKMSG_CHROMEDRIVER") or shutil.which("chromedriver")
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def screenshot_dir(default: Path) -> Path:
    """Where screenshots go: $BULKMSG_SCREENSHOTS when set (to look at them), else the test's tmp dir."""
    target = Path(os.environ.get("BULKMSG_SCREENSHOTS") or default)
    target.mkdir(parents=True, exist_ok=True)
    return target


@contextmanager
def chromium(width: int = 1280, height: int = 800, *, dark: bool = False) -> Iterator[Any]:
    """A headless Chromium driven by Selenium through the system chromedriver (never Selenium Manager)."""
    require(
        bool(CHROMIUM and CHROMEDRIVER),
        "Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
    )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="bulkmsg-ui-")
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        set_viewport(driver, width, height)
        if dark:
            driver.execute_cdp_cmd(
                "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
            )
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def set_viewport(driver: Any, width: int, height: int) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def wait_js(driver: Any, script: str, timeout: float = 10.0, what: str | None = None) -> Any:
    """Poll a JS expression (`return ...`) until it is truthy; fail naming `what` (or the script)."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or script}")
        time.sleep(0.05)


def wait_view(driver: Any, view: str, timeout: float = 10.0) -> None:
    wait_js(
        driver,
        "const root = document.documentElement;"
        f"return root.dataset.view === {json.dumps(view)} && root.dataset.ready === '1'",
        timeout,
        f"the {view} screen",
    )


def go(driver: Any, route: str) -> None:
    """Navigate inside the app (hash route) and wait for the screen to be ready."""
    driver.execute_script("window.location.hash = arguments[0]", f"#/{route}")
    wait_view(driver, route.split("/")[0] or "dashboard")


def text_of(driver: Any, selector: str) -> str:
    return driver.execute_script(
        "const el = document.querySelector(arguments[0]); return el ? el.innerText : ''", selector
    )


def js_errors(driver: Any) -> list[str]:
    """Uncaught errors and failed module loads from the console (HTTP 4xx answers the UI handles are not)."""
    errors = []
    for entry in driver.get_log("browser"):
        message = entry.get("message", "")
        if entry.get("level") == "SEVERE" and "Failed to load resource" not in message:
            errors.append(message)
    return errors


def shoot(driver: Any, directory: Path, name: str) -> Path:
    """Save a screenshot after the page has painted; returns its path."""
    driver.execute_script("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    path = directory / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000, f"screenshot {path} looks empty"
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    return wait_for(check, timeout=timeout, interval=0.05, what=what)


def confirm_start(driver: Any) -> str:
    """Answer the summary compose shows before a campaign starts ("Send to N people now?") with Start; returns
    the summary's text."""
    text = wait_js(
        driver,
        "const d = document.querySelector('dialog[open]');"
        " return d && d.querySelector('button[value=yes]') && d.innerText",
        what="the summary before sending",
    )
    driver.execute_script("document.querySelector('dialog[open] button[value=yes]').click()")
    return str(text)
