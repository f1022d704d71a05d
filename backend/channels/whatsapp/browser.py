"""Starting and stopping the Chromium that runs WhatsApp Web, with no process left behind.

Contract:
- `start_browser(config)` clears a stale profile lock (and kills an orphaned Chromium of the same profile
  left by a crashed app), starts the system chromedriver with an explicit path (Selenium Manager never runs),
  and starts Chromium with the persistent profile, `--lang=en-US`, a desktop user agent and automation flags
  off (a second time if it exits at once).
  A small reaper process kills that Chromium if this process dies without closing it. Raises BrowserError with a
  human reason.
- `Browser.quit()` ends Chromium, chromedriver and the reaper within a bounded time; returns False when it had
  to kill processes (the caller then reports "Disconnected (forced)").
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import SessionNotCreatedException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.remote_connection import RemoteConnection

from backend.channels.whatsapp import reaper
from backend.security.files import private_dir

log = logging.getLogger(__name__)

LOCK_FILES = ("SingletonLock", "SingletonSocket", "SingletonCookie")
#: pause before the second try when Chromium exited while starting.
RETRY_PAUSE_S = 1.0
HEADLESS_FLAGS = (
    "--headless=new",
    "--disable-gpu",
    "--disable-dev-shm-usage",
)
COMMON_FLAGS = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-crash-reporter",
    "--disable-breakpad",
    "--window-size=1280,900",
    "--lang=en-US",
    # automation flags off: no navigator.webdriver, no "controlled by automated software" bar
    "--disable-blink-features=AutomationControlled",
)


class BrowserError(Exception):
    """Chromium or chromedriver could not be found or started; the message says why, for the user."""


@dataclass(frozen=True)
class BrowserConfig:
    profile_dir: Path
    chromium: str | None = None
    chromedriver: str | None = None
    headless: bool = True
    user_agent: str | None = None
    #: longest a single WebDriver command may take (a hung browser must not hang the app).
    command_timeout_s: float = 30.0
    page_load_timeout_s: float = 30.0


def find_executable(configured: str | None, names: tuple[str, ...], what: str) -> str:
    """The configured path when it exists, else the first of `names` on PATH. Raises BrowserError."""
    if configured:
        if Path(configured).is_file() and os.access(configured, os.X_OK):
            return configured
        raise BrowserError(f"{what} not found at {configured}")
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError(f"{what} not found; install it (apt-get install chromium chromium-driver) or set its path")


@functools.lru_cache(maxsize=8)
def chromium_major_version(chromium: str) -> str:
    """The major version of this Chromium binary ("156"), or "130" when it cannot be read."""
    try:
        out = subprocess.run([chromium, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    match = re.search(r"(\d+)\.\d+\.\d+", out)
    return match.group(1) if match else "130"


def desktop_user_agent(chromium: str) -> str:
    """A regular desktop Chrome user agent (headless Chromium says "HeadlessChrome", which WhatsApp refuses)."""
    system = platform.system()
    if system == "Windows":
        platform_part = "Windows NT 10.0; Win64; x64"
    elif system == "Darwin":
        platform_part = "Macintosh; Intel Mac OS X 10_15_7"
    else:
        platform_part = "X11; Linux x86_64"
    version = chromium_major_version(chromium)
    return f"Mozilla/5.0 ({platform_part}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{version}.0.0.0 Safari/537.36"


def clear_stale_profile_lock(profile_dir: Path) -> list[int]:
    """Make the profile usable after a crash: kill an orphaned Chromium of this profile and remove the
    Singleton* lock files. Only call this while holding the WhatsApp session lease (no live owner exists).
    Returns the pids killed."""
    killed = reaper.kill_profile_processes(str(profile_dir))
    if killed:
        log.warning("killed %d orphaned Chromium processes of %s", len(killed), profile_dir)
    for name in LOCK_FILES:
        path = profile_dir / name
        if path.is_symlink() or path.exists():
            log.info("removing stale Chromium profile lock %s", path)
            path.unlink(missing_ok=True)
    return killed


def set_command_timeout(driver: webdriver.Chrome, timeout_s: float) -> None:
    """Bound every WebDriver HTTP call (Selenium's default waits forever on a hung browser)."""
    executor = driver.command_executor
    if isinstance(executor, RemoteConnection):
        executor._client_config.timeout = timeout_s


class Browser:
    """A running Chromium + chromedriver (+ reaper) for one profile."""

    def __init__(self, driver: webdriver.Chrome, profile_dir: Path, reaper_process: subprocess.Popen[bytes]):
        self.driver = driver
        self.profile_dir = profile_dir
        self._reaper = reaper_process
        self._closed = False

    def quit(self, timeout_s: float = 10.0) -> bool:
        """End every process of this browser. True when it ended gracefully, False when it was killed."""
        if self._closed:
            return True
        self._closed = True
        graceful = True
        try:
            set_command_timeout(self.driver, timeout_s)
            self.driver.quit()
        except Exception as exc:  # noqa: BLE001 - quit must go on to kill whatever is left
            log.warning("Chromium did not quit cleanly: %s", exc)
            graceful = False
        deadline = time.monotonic() + timeout_s
        while reaper.profile_processes(str(self.profile_dir)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if reaper.profile_processes(str(self.profile_dir)):
            log.warning("Chromium still running after quit; killing it")
            reaper.kill_profile_processes(str(self.profile_dir), grace_s=2.0)
            graceful = False
        self._stop_reaper()
        return graceful

    def _stop_reaper(self) -> None:
        try:
            if self._reaper.stdin:
                self._reaper.stdin.close()
            self._reaper.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self._reaper.kill()
            self._reaper.wait(timeout=5)


def _start_driver(chromedriver: str, options: webdriver.ChromeOptions, profile_dir: Path) -> webdriver.Chrome:
    """chromedriver and Chromium; tried a second time when Chromium exits at once (seen right after a crashed
    Chromium of the same profile was killed, under load), after clearing the profile lock again."""
    for attempt in (1, 2):
        try:
            return webdriver.Chrome(service=Service(chromedriver, log_output=subprocess.DEVNULL), options=options)
        except SessionNotCreatedException as exc:
            if attempt == 2:
                raise
            log.warning("Chromium exited while starting (%s); trying once more", (exc.msg or "").strip()[:120])
            time.sleep(RETRY_PAUSE_S)
            clear_stale_profile_lock(profile_dir)
    raise AssertionError("unreachable")


def start_browser(config: BrowserConfig) -> Browser:
    """Start Chromium with the persistent profile; see the module docstring. Raises BrowserError."""
    chromium = find_executable(config.chromium, ("chromium", "chromium-browser", "google-chrome"), "Chromium")
    chromedriver = find_executable(config.chromedriver, ("chromedriver",), "chromedriver")
    private_dir(config.profile_dir)  # the WhatsApp login lives here
    clear_stale_profile_lock(config.profile_dir)

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*(HEADLESS_FLAGS if config.headless else ()), *COMMON_FLAGS):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={config.profile_dir}")
    options.add_argument(f"--user-agent={config.user_agent or desktop_user_agent(chromium)}")
    options.add_experimental_option("excludeSwitches", ["enable-automation"])
    options.add_experimental_option("useAutomationExtension", False)
    # The page's words are English whatever the user's own language (selectors read some of them).
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})

    # `-P`: the script's own folder stays off sys.path (its `selectors.py` would shadow the standard library's).
    # The packaged app is no Python: it routes `<path>/reaper.py` to the reaper itself (desktop/frozen.py).
    safe_path = [] if getattr(sys, "frozen", False) else ["-P"]
    reaper_process = subprocess.Popen(
        [sys.executable, *safe_path, reaper.__file__, str(config.profile_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        start_new_session=True,
    )
    started = time.monotonic()
    try:
        driver = _start_driver(chromedriver, options, config.profile_dir)
    except WebDriverException as exc:
        reaper_process.stdin.close()  # type: ignore[union-attr]
        reaper_process.wait(timeout=15)
        first_line = (exc.msg or str(exc)).strip().splitlines()[0] if (exc.msg or str(exc)).strip() else "unknown"
        raise BrowserError(f"Chromium did not start: {first_line}") from exc
    set_command_timeout(driver, config.command_timeout_s)
    driver.set_page_load_timeout(config.page_load_timeout_s)
    driver.set_script_timeout(config.command_timeout_s)
    log.info("Chromium started in %.2f s with profile %s", time.monotonic() - started, config.profile_dir)
    return Browser(driver, config.profile_dir, reaper_process)
