"""The app shell in real headless Chromium against the real server: sign-in, dashboard, themes, keyboard."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from backend.conversations.inbound import Inbound, record_inbound
from tests.helpers import api_session
from tests.ui_checks import contrast_failures, small_targets
from tests.ui_support import chromium, go, js_errors, screenshot_dir, shoot, text_of, wait_js, wait_view

pytestmark = pytest.mark.browser

# Every control must have a name a screen reader can say: a <label>, aria-label or aria-labelledby, or text.
UNLABELLED = """
const named = (el) => (el.labels && el.labels.length) || el.getAttribute('aria-label')
  || el.getAttribute('aria-labelledby')
  || (el.tagName === 'BUTTON' && el.innerText.trim()) || el.type === 'hidden' || el.closest('[hidden]');
return [...document.querySelectorAll('input, select, textarea, button')].filter((el) => !named(el))
  .map((el) => el.outerHTML.slice(0, 120));
"""


def test_it_signs_in_with_the_one_time_link_and_stays_signed_in_in_every_tab(live_server: Any) -> None:
    services = live_server.app.extensions["bulkmsg"]
    code = services.login_code()
    with chromium() as driver:
        driver.get(f"{live_server.url}/#login={code}")
        wait_view(driver, "dashboard")
        assert code not in driver.current_url
        # No token the page's scripts can read: the sign-in is an HttpOnly cookie that lasts (14 days, renewed).
        assert driver.execute_script("return document.cookie + JSON.stringify(sessionStorage)") == "{}"
        (cookie,) = driver.get_cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expiry"] > time.time() + 86400
        driver.refresh()
        wait_view(driver, "dashboard")
        driver.switch_to.new_window("tab")  # a new tab, without any link: still signed in
        driver.get(live_server.url + "/")
        wait_view(driver, "dashboard")

        driver.find_element(By.ID, "sign-out").click()  # the visible sign-out
        wait_view(driver, "signed-out")
        assert "signed out" in text_of(driver, "#signed-out-text")
        driver.get(f"{live_server.url}/#login={code}")  # a one-time code works once
        wait_view(driver, "signed-out")
        wait_js(driver, "return document.getElementById('signed-out-text').textContent.includes('already been used')",
                what="the used link's sentence")  # fmt: skip
        assert js_errors(driver) == []


def test_it_says_how_to_sign_in_when_there_is_no_token(live_server: Any, tmp_path: Path) -> None:
    with chromium() as driver:
        driver.get(live_server.url + "/")
        wait_view(driver, "signed-out")
        sentence = text_of(driver, "#signed-out-text")
        assert "bulkmsg serve" in sentence and "bulkmsg token" in sentence
        shoot(driver, screenshot_dir(tmp_path), "signed-out")

        field = driver.find_element(By.ID, "token-input")
        field.send_keys(live_server.token, Keys.ENTER)
        wait_view(driver, "dashboard")
        assert js_errors(driver) == []


def test_it_opens_the_dashboard_from_the_desktop_link(live_server: Any, tmp_path: Path) -> None:
    shots = screenshot_dir(tmp_path)
    with chromium() as driver:
        driver.get(f"{live_server.url}/#token={live_server.token}")
        wait_view(driver, "dashboard")
        assert "token=" not in driver.current_url
        wait_js(driver, "return document.getElementById('conn').dataset.state === 'live'", what="the live connection")
        assert text_of(driver, ".page-title") == "Dashboard"
        assert text_of(driver, "#conn") == "Live"
        for name in ("whatsapp", "gmail", "smtp", "sms"):
            assert driver.find_elements(By.CSS_SELECTOR, f'.mini-channel[data-channel="{name}"]')
        shoot(driver, shots, "dashboard-1280x800")
        assert js_errors(driver) == []


# Every menu item on screen (not scrolled away): its box inside the viewport, and the element hit there is it.
MENU_OFF_SCREEN = """
return [...document.querySelectorAll('#nav a')].filter((a) => {
  const r = a.getBoundingClientRect();
  const outside = r.left < 0 || r.right > window.innerWidth + 0.5 || r.top < 0 || r.bottom > window.innerHeight;
  if (r.width === 0 || outside) return true;
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return !(hit && a.contains(hit));
}).map((a) => a.dataset.route);
"""
# The innermost elements that reach past the right edge (what makes a page scroll sideways).
WIDE = """
const past = (el) => el.getBoundingClientRect().right > window.innerWidth + 0.5;
return [...document.querySelectorAll('body *')].filter((el) => past(el) && ![...el.children].some(past))
  .slice(0, 5).map((el) => el.outerHTML.slice(0, 100));
"""
SCREENS = ("", "channels", "contacts", "compose", "campaigns", "conversations", "settings")
# On a phone every table is a stack of cards: rows as blocks, each cell named by its column.
UNSTACKED = """
return [...document.querySelectorAll('.table-wrap tbody tr')].filter((tr) => tr.offsetParent).flatMap((tr) => {
  if (getComputedStyle(tr).display !== 'block') return [tr.outerHTML.slice(0, 80)];
  return [...tr.cells].filter((td) => td.dataset.label === undefined
    || (td.dataset.label && getComputedStyle(td, '::before').content !== JSON.stringify(td.dataset.label)))
    .map((td) => td.outerHTML.slice(0, 80));
});
"""

STACKED_ROWS = """
const rows = [...document.querySelectorAll('.table-wrap tbody tr')];
return rows.length && rows.every((tr) => getComputedStyle(tr).display === 'block') && rows.length;
"""
# The preview inside the campaign form, above its Start button (true), or beside the form (false).
PREVIEW_BEFORE_START = """
const preview = document.querySelector('[aria-labelledby=preview-title]');
const start = document.querySelector("form[aria-label='New campaign'] button[type=submit]");
return preview.compareDocumentPosition(start) === (Node.DOCUMENT_POSITION_FOLLOWING)
  && preview.getBoundingClientRect().bottom <= start.getBoundingClientRect().top;
"""


def seed(server: Any) -> None:
    """A few contacts (one opted out, one tagged), a draft campaign and a thread with an unread reply, so every
    screen has its tables, pills and badges to look at."""
    http = api_session(server.url, server.token)
    people = [("Ana Silva", "+14155550101", ["VIP"]), ("Ben Okafor", "+14155550102", []), ("Chloé Durand", None, [])]
    for name, phone, tags in people:
        body = {"name": name, "email": f"{name.split()[0].lower()}@example.com", "tags": tags, "phone": phone}
        assert http.post(f"{server.url}/api/contacts", json=body, timeout=10).status_code == 201
    ben = http.get(f"{server.url}/api/contacts", params={"q": "Ben"}, timeout=10).json()["items"][0]
    http.post(f"{server.url}/api/contacts/{ben['id']}/opt-out", json={"family": "all"}, timeout=10)
    draft = {
        "name": "Spring sale",
        "channel": "smtp",
        "subject": "Hi",
        "body": "Hi {{ name }}",
        "recipients": {"all": True},
    }
    http.post(f"{server.url}/api/campaigns", json=draft, timeout=10)
    services = server.app.extensions["bulkmsg"]
    with services.db.write() as session:
        record_inbound(services.hub, session, Inbound(1, "sms", "+14155550101", "Is the sale still on?", "SM-seed-1"))


@pytest.mark.parametrize(
    "width,height,dark",
    [(1400, 900, False), (1400, 900, True), (390, 844, False), (390, 844, True)],
    ids=["wide-light", "wide-dark", "phone-light", "phone-dark"],
)
def test_it_fits_every_screen_in_both_themes_and_narrow(
    live_server: Any, tmp_path: Path, width: int, height: int, dark: bool
) -> None:
    shots = screenshot_dir(tmp_path)
    tag = f"{'dark' if dark else 'light'}-{width}x{height}"
    seed(live_server)
    with chromium(width, height, dark=dark) as driver:
        driver.get(f"{live_server.url}/#token={live_server.token}")
        wait_view(driver, "dashboard")
        background = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(14, 17, 22)") == dark  # the theme follows the system
        for route in SCREENS:
            go(driver, route)
            overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{route or 'dashboard'} scrolls sideways at {width}px: {driver.execute_script(WIDE)}"
            assert driver.execute_script(UNLABELLED) == [], f"unlabelled controls on {route or 'dashboard'}"
            assert driver.execute_script(MENU_OFF_SCREEN) == [], f"menu items out of reach on {route or 'dashboard'}"
            assert contrast_failures(driver) == [], f"text under 4.5:1 on {route or 'dashboard'} ({tag})"
            assert small_targets(driver) == [], f"targets under 24 px on {route or 'dashboard'} ({tag})"
            if width <= 600:
                assert driver.execute_script(UNSTACKED) == [], f"a table row not stacked on {route}"
            if route == "compose":  # one column on a phone: the preview comes before Start
                preview_first = driver.execute_script(PREVIEW_BEFORE_START)
                assert preview_first == (width <= 1100), "the preview's place beside or above Start"
            if route == "contacts" and width <= 600:
                cards = wait_js(driver, STACKED_ROWS, what="the contacts as cards")
                assert cards == 3
            words = text_of(driver, "body").lower()
            assert "on the left" not in words and "on the right" not in words, route
            shoot(driver, shots, f"{route or 'dashboard'}-{tag}")
        bar = driver.execute_script("return document.querySelector('.topbar').getBoundingClientRect().height")
        assert width > 640 or bar <= 100, f"the top bar takes {bar}px of a {height}px phone screen"
        assert js_errors(driver) == []


def test_it_can_be_driven_from_the_keyboard(live_server: Any) -> None:
    with chromium() as driver:
        driver.get(f"{live_server.url}/#token={live_server.token}")
        wait_view(driver, "dashboard")
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)  # the skip link comes first
        assert driver.switch_to.active_element.get_attribute("class") == "skip-link"
        for _ in range(10):
            driver.switch_to.active_element.send_keys(Keys.TAB)
            if driver.switch_to.active_element.get_attribute("data-route") == "contacts":
                break
        link = driver.switch_to.active_element
        assert link.get_attribute("data-route") == "contacts"
        outline = driver.execute_script("return getComputedStyle(arguments[0]).outlineStyle", link)
        assert outline != "none", "the focused link shows no focus ring"
        link.send_keys(Keys.ENTER)
        wait_view(driver, "contacts")
        assert (
            driver.find_element(By.CSS_SELECTOR, '#nav a[aria-current="page"]').get_attribute("data-route")
            == "contacts"
        )
