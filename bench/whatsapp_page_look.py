"""How long the WhatsApp worker's look at the page takes (it looks several times a second while idle).

Real headless Chromium on the fake WhatsApp Web page, logged in with a chat open. `value`: one look as the
channel does it (`pages.read_page`: every selector in one browser round trip); `baseline`, measured in the same
run: the same selectors asked one WebDriver call per CSS alternative.
Bounded: the whole run gives up with a clear error after 120 s.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.channels.whatsapp import pages  # noqa: E402
from backend.channels.whatsapp.browser import BrowserConfig, find_executable, start_browser  # noqa: E402
from bench._common import note, note_load, result  # noqa: E402
from tests.fakes.whatsapp_web import FakeWhatsAppWeb  # noqa: E402

LOOKS = 60
LIMIT_S = 120.0


def wait_for(driver: object, kind: str, fake: FakeWhatsAppWeb) -> None:
    deadline = time.monotonic() + 30
    while (seen := pages.read_page(driver).kind) != kind:  # type: ignore[arg-type]
        if seen == "qr":
            fake.scan()
        if time.monotonic() > deadline:
            raise SystemExit(f"whatsapp_page_look: the fake page never showed {kind!r} (last: {seen!r})")
        time.sleep(0.1)


def per_look_ms(look: object, driver: object) -> float:
    started = time.monotonic()
    for _ in range(LOOKS):
        look(driver)  # type: ignore[operator]
    return (time.monotonic() - started) / LOOKS * 1000


def one_call_per_alternative(driver: object) -> None:
    for selector in (*pages._LOOK, *pages._LOOK_HARDER):
        selector.find(driver)


def main() -> None:
    timer = threading.Timer(LIMIT_S, lambda: (note(f"gave up after {LIMIT_S:g} s"), sys.exit(1)))
    timer.daemon = True
    timer.start()
    chromium = find_executable(None, ("chromium", "chromium-browser", "google-chrome"), "Chromium")
    driver_path = find_executable(None, ("chromedriver",), "chromedriver")
    note_load()
    with FakeWhatsAppWeb(startup_ms=50) as fake, tempfile.TemporaryDirectory() as profile:
        browser = start_browser(BrowserConfig(profile_dir=Path(profile), chromium=chromium, chromedriver=driver_path))
        try:
            browser.driver.get(fake.url + "/send?phone=15551230001")
            wait_for(browser.driver, "ready", fake)
            baseline = per_look_ms(one_call_per_alternative, browser.driver)
            value = per_look_ms(pages.read_page, browser.driver)
        finally:
            browser.quit()
    timer.cancel()
    result("whatsapp_page_look", "ms_per_look", round(value, 2), "ms", round(baseline, 2), round(value / baseline, 3))


if __name__ == "__main__":
    main()
