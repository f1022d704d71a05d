"""First use, in real headless Chromium against the real server and the fake Twilio, at desktop and phone size:
the first-run checklist, Settings on its own screen, accent-free search, the import report, the compose screen
(chosen recipients, the draft, a test send, a copy of a past campaign), the monitor's pace words, and the
reconnect banner and reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.fakes.twilio import FakeTwilio
from tests.test_ui_flows import api, click, fill, open_app
from tests.ui_support import chromium, confirm_start, go, js_errors, screenshot_dir, shoot, text_of, wait_js, wait_view

pytestmark = pytest.mark.browser
SIZES = pytest.mark.parametrize("width,height", [(1400, 900), (390, 844)], ids=["desktop", "phone"])


@pytest.fixture
def server(start_server: Any) -> Any:
    return start_server()


def checklist_done(driver: Any) -> dict[str, str]:
    return driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('[data-step]')]"
        ".map((s) => [s.dataset.step, s.dataset.done]))"
    )


@SIZES
def test_it_guides_a_new_user_with_a_checklist_until_done(server: Any, tmp_path: Path, width: int, height: int) -> None:
    shots = screenshot_dir(tmp_path)
    with FakeTwilio() as twilio, chromium(width, height) as driver:
        open_app(driver, server)
        wait_js(driver, "return document.querySelector('[data-checklist]')", what="the checklist")
        assert checklist_done(driver) == {"channel": "0", "contacts": "0", "test": "0", "campaign": "0"}
        shoot(driver, shots, f"first-use-checklist-{width}")

        go(driver, "channels")
        sms = 'article[data-channel="sms"]'
        # No session button sits above a form that has never been saved.
        assert (
            driver.execute_script(f"return document.querySelector('{sms} [data-action=connect]').offsetParent") is None
        )
        assert "Settings" not in [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".card h2")]
        go(driver, "settings")
        assert driver.find_element(By.CSS_SELECTOR, "input[name=default_country]")
        shoot(driver, shots, f"first-use-settings-{width}")

        api(server, "PUT", "/api/channels/sms", json=twilio.settings())
        api(server, "POST", "/api/contacts", json={"name": "Émile Zola", "phone": "+14155550101"})
        go(driver, "")
        wait_js(driver, "return document.querySelector('[data-step=contacts]').dataset.done === '1'", what="ticks")
        assert checklist_done(driver) == {"channel": "1", "contacts": "1", "test": "0", "campaign": "0"}
        assert "2 of 4 done" in text_of(driver, "[data-checklist]")
        assert js_errors(driver) == []


def test_it_finds_accented_names_typed_without_accents_in_contacts_and_compose(server: Any) -> None:
    for i, name in enumerate(["Émile Zola", "Łukasz Nowak", "Zoë Adams", "Ana Silva"]):
        api(server, "POST", "/api/contacts", json={"name": name, "phone": f"+1415555010{i}"})
    with chromium() as driver:
        open_app(driver, server)
        go(driver, "contacts")
        fill(driver, "input[type=search]", "EMILE")
        wait_js(driver, "return document.querySelectorAll('tr[data-contact]').length === 1", what="the search")
        assert "Émile Zola" in text_of(driver, "tbody")
        go(driver, "compose")
        click(driver, "input[type=radio][value=some]")
        fill(driver, "input[type=search]", "lukasz")
        wait_js(
            driver,
            "const t = document.querySelector('.recipient-list').innerText;"
            "return t.includes('Łukasz Nowak') && !t.includes('Ana Silva')",
            what="only Łukasz listed",
        )
        assert js_errors(driver) == []


def answer_dialog(driver: Any, yes: bool = True) -> str:
    """Answer the open confirmation dialog; returns its text."""
    text = wait_js(driver, "const d = document.querySelector('dialog[open]'); return d && d.innerText", what="a dialog")
    driver.execute_script(f"document.querySelector('dialog[open] button[value={'yes' if yes else 'no'}]').click()")
    wait_js(driver, "return !document.querySelector('dialog[open]')", what="the dialog closed")
    return str(text)


def pick_file(driver: Any, path: Path) -> None:
    driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(path))
    wait_js(driver, "return document.querySelector('[data-action=check-import]')", what="the preview")


def check_and_import(driver: Any) -> str:
    """Check the rows (the diff, nothing written), then import; returns the diff's text."""
    click(driver, "button[data-action=check-import]")
    diff = wait_js(
        driver, "const d = document.querySelector('[data-diff]'); return d && d.closest('section').innerText"
    )
    click(driver, "button[data-action=import]")
    wait_js(driver, "return document.querySelector('[data-imported]')", what="the report")
    return str(diff)


@SIZES
def test_it_reports_an_import_row_by_row_and_counts_each_row_once(
    server: Any, tmp_path: Path, width: int, height: int
) -> None:
    shots = screenshot_dir(tmp_path)
    good = tmp_path / "contacts.csv"
    good.write_text(
        "Name,Phone,Email\nAna,+14155550101,ana@example.test\nBo,4155550,bo@example.org\nCy,nope,bad@@x\n",
        encoding="utf-8",
    )
    with chromium(width, height) as driver:
        open_app(driver, server)
        go(driver, "contacts")
        click(driver, ".page-actions .btn.primary")
        pick_file(driver, good)
        assert "3 rows" in text_of(driver, "section[aria-labelledby=import-title]")
        diff = check_and_import(driver)
        assert "Nothing has been written yet." in diff and "Rows that will not be imported" in diff, diff
        report = text_of(driver, "section[aria-labelledby=import-title]")
        assert "2 new, 0 updated, 1 row not imported." in report, report
        assert "reserved for tests" in text_of(driver, ".import-warnings")
        assert "4155550" in text_of(driver, ".import-warnings")  # Bo came in by email; his phone was left out
        assert text_of(driver, ".import-errors").count("Cy") == 0 and "bad@@x" in text_of(driver, ".import-errors")
        shoot(driver, shots, f"import-report-{width}")

        bad = tmp_path / "nothing.csv"
        bad.write_text("Name,Phone\nDee,nope\n", encoding="utf-8")
        click(driver, "section[aria-labelledby=import-title] .row.end .btn:not(.primary)")
        pick_file(driver, bad)
        click(driver, "button[data-action=check-import]")
        wait_js(driver, "return document.querySelector('[data-diff=\"0\"]')", what="the empty diff")
        assert driver.find_element(By.CSS_SELECTOR, "button[data-action=import]").get_attribute("disabled")
        assert js_errors(driver) == []


@SIZES
def test_it_reads_local_numbers_in_a_chosen_country_shows_the_diff_and_undoes_an_import(
    server: Any, tmp_path: Path, width: int, height: int
) -> None:
    shots = screenshot_dir(tmp_path)
    french = tmp_path / "clients.csv"
    french.write_text("Nom,Téléphone,Ville\nAmélie,06 12 34 56 78,Paris\nBruno,07 98 76 54 32,Lyon\n", encoding="utf-8")
    again = tmp_path / "clients-export.csv"
    again.write_text("Nom,Téléphone,Ville\nAmélie Poulain,06 12 34 56 78,Paris\nBruno,07 98 76 54 32,Lyon\n")
    with chromium(width, height) as driver:
        open_app(driver, server)
        go(driver, "contacts")
        click(driver, ".page-actions .btn.primary")
        pick_file(driver, french)
        # No country set and an en-US browser: the numbers would be read as American; the page asks.
        ask = wait_js(driver, "const a = document.querySelector('.country-ask'); return a && !a.hidden && a.innerText")
        assert "2 numbers have no + country code: read them as" in ask, ask
        select = "select[name=import_country]"
        driver.execute_script(
            f"const s = document.querySelector('{select}'); s.value = 'FR'; s.dispatchEvent(new Event('change'))"
        )
        wait_js(driver, "return document.querySelector('.stored-phone').innerText === '+33612345678'", what="FR")
        click(driver, "input[name=keep_country]")
        shoot(driver, shots, f"import-country-{width}")
        check_and_import(driver)
        assert api(server, "GET", "/api/settings")["default_country"] == "FR"

        click(driver, "button[data-action=done]")
        wait_js(driver, "return document.querySelector('.undo-import')", what="the last import's notice")
        click(driver, ".page-actions .btn.primary")
        pick_file(driver, again)
        # The account's country now reads the file; nothing to ask.
        assert driver.find_element(By.CSS_SELECTOR, select).get_attribute("value") == "FR"
        click(driver, "button[data-action=check-import]")
        wait_js(driver, "return document.querySelector('table.import-changes')", what="the changes")
        changes = text_of(driver, "table.import-changes")
        assert "Amélie" in changes and "Amélie Poulain" in changes and "Name" in changes, changes
        assert text_of(driver, "button[data-action=import]") == "Import: 0 new, 1 updated"
        shoot(driver, shots, f"import-diff-{width}")
        dark = {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", dark)
        shoot(driver, shots, f"import-diff-dark-{width}")
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        click(driver, "button[data-action=import]")
        undo = "section[aria-labelledby=import-title] [data-action=undo-import]"
        wait_js(driver, f"return document.querySelector('{undo}')", what="the undo button")
        click(driver, undo)
        assert "Undo this import?" in answer_dialog(driver)
        undone = "[...document.querySelectorAll('.toast')].find((t) => t.innerText.includes('undone'))"
        assert "0 deleted, 1 restored" in wait_js(driver, f"return {undone}?.innerText", what="the undo's toast")
        names = sorted(c["name"] for c in api(server, "GET", "/api/contacts")["items"])
        assert names == ["Amélie", "Bruno"], names

        # Edit one in place, delete one after a confirmation, then the chosen ones in one go.
        api(server, "POST", "/api/contacts", json={"name": "Zoé", "phone": "+33611111111"})
        go(driver, "")
        go(driver, "contacts")
        wait_js(driver, "return document.querySelectorAll('tr[data-contact]').length === 3", what="3 contacts")
        amelie = next(c["id"] for c in api(server, "GET", "/api/contacts")["items"] if c["name"] == "Amélie")
        click(driver, f'tr[data-contact="{amelie}"] [data-action=edit-contact]')
        fill(driver, "tr[data-editing] input[name=name]", "Amélie Poulain")
        fill(driver, "tr[data-editing] input[name='fields.ville']", "Montmartre")
        shoot(driver, shots, f"contact-edit-{width}")
        click(driver, "tr[data-editing] [data-action=save-contact]")
        wait_js(driver, "return document.querySelector('tbody').innerText.includes('Amélie Poulain')", what="saved")
        stored = {c["name"]: c for c in api(server, "GET", "/api/contacts")["items"]}
        assert stored["Amélie Poulain"]["fields"]["ville"] == "Montmartre"

        bruno = stored["Bruno"]["id"]
        click(driver, f'tr[data-contact="{bruno}"] [data-action=delete-contact]')
        assert "Delete Bruno?" in answer_dialog(driver, yes=False)
        assert driver.find_elements(By.CSS_SELECTOR, f'tr[data-contact="{bruno}"]')
        click(driver, f'tr[data-contact="{bruno}"] [data-action=delete-contact]')
        answer_dialog(driver)
        wait_js(driver, "return document.querySelectorAll('tr[data-contact]').length === 2", what="Bruno gone")

        for box in driver.find_elements(By.CSS_SELECTOR, "input[data-choose]"):
            driver.execute_script("arguments[0].click()", box)
        assert "2 chosen" in text_of(driver, ".bulk-bar")
        shoot(driver, shots, f"contacts-chosen-{width}")
        click(driver, "[data-action=delete-chosen]")
        text = answer_dialog(driver)
        assert "Delete 2 contacts?" in text and "Zoé" in text, text
        wait_js(driver, "return !document.querySelector('tr[data-contact]')", what="the list empty")
        assert api(server, "GET", "/api/contacts")["total"] == 0
        assert js_errors(driver) == []


@SIZES
def test_it_keeps_the_compose_draft_sends_a_test_and_copies_a_campaign(
    server: Any, tmp_path: Path, width: int, height: int
) -> None:
    shots = screenshot_dir(tmp_path)
    with FakeTwilio() as twilio, chromium(width, height) as driver:
        api(server, "PUT", "/api/channels/sms", json=twilio.settings())
        for i, name in enumerate(["Ana Silva", "Ben Okafor", "Chloé Müller"]):
            api(
                server,
                "POST",
                "/api/contacts",
                json={"name": name, "phone": f"+1415555010{i}", "fields": {"code": f"C{i}"}},
            )
        open_app(driver, server)
        go(driver, "compose")
        click(driver, "input[type=radio][value=sms]")
        click(driver, "input[type=radio][value=some]")
        wait_js(driver, "return document.querySelectorAll('.recipient-list input[type=checkbox]').length === 3")
        for name in ("Ana Silva", "Chloé Müller"):
            click(driver, f".recipient-list label:nth-child({1 if name == 'Ana Silva' else 3}) input")
        wait_js(driver, "return document.querySelectorAll('[data-chosen]').length === 2", what="the chosen list")
        assert text_of(driver, ".chosen-list").split("\n") == ["Ana Silva", "Chloé Müller"]
        fill(driver, "textarea[name=body]", "Hi {{ name }}, code {{ fields.code }}.")
        wait_js(driver, "return document.querySelector('.preview-bubble').innerText.includes('Hi Ana Silva, code C0.')")
        shoot(driver, shots, f"compose-chosen-{width}")

        go(driver, "contacts")  # leave: the draft stays
        go(driver, "compose")
        wait_js(driver, "return document.querySelectorAll('[data-chosen]').length === 2", what="the restored choice")
        assert driver.find_element(By.CSS_SELECTOR, "textarea[name=body]").get_attribute("value").startswith("Hi {{")
        assert driver.find_element(By.CSS_SELECTOR, "input[type=radio][value=sms]").is_selected()
        # A crash of the desktop window (its browser storage is private and dies with it): the server's copy,
        # saved as the user typed, brings the draft back, with the cursor in the message where it was.
        driver.execute_script(
            "const b = document.querySelector('textarea[name=body]'); b.focus(); b.setSelectionRange(3, 3);"
            "b.dispatchEvent(new Event('input', {bubbles: true}))"
        )
        wait_js_py(lambda: (api(server, "GET", "/api/compose-draft")["snapshot"].get("where") or {}).get("start") == 3,
                   "the server's copy", timeout=30)  # fmt: skip
        driver.execute_script("localStorage.clear(); location.reload()")
        wait_view(driver, "compose")
        chosen = "return document.querySelectorAll('[data-chosen]').length === 2"
        wait_js(driver, chosen, timeout=30, what="the server's draft")
        assert driver.find_element(By.CSS_SELECTOR, "textarea[name=body]").get_attribute("value").startswith("Hi {{")
        caret = driver.execute_script("const a = document.activeElement; return [a.name, a.selectionStart]")
        assert caret == ["body", 3], caret

        wait_js(driver, "return document.querySelector('.preview-bubble').innerText.includes('Hi Ana Silva')")
        fill(driver, "input[name=test_to]", "+14155550199")
        click(driver, "button[data-action=send-test]")
        wait_js(
            driver, "return [...document.querySelectorAll('.toast')].some((t) => t.innerText.includes('Test sent'))"
        )
        wait_js_py(lambda: [m for m in twilio.created() if m["to"] == "+14155550199"], "the test SMS")
        (test,) = [m for m in twilio.created() if m["to"] == "+14155550199"]
        assert test["body"] == "Hi Ana Silva, code C0."

        click(driver, "form[aria-label='New campaign'] button[type=submit]")
        confirm_start(driver)
        wait_js(driver, "return /^#\\/campaigns\\/\\d+$/.test(location.hash)", what="the monitor")
        wait_view(driver, "campaigns")
        wait_js(driver, "return document.querySelector('[data-summary=completed]')", timeout=60, what="the summary")
        assert "/min" in text_of(driver, "[data-stat=rate]") or "—" in text_of(driver, "[data-stat=rate]")
        click(driver, "[data-action=duplicate]")
        wait_view(driver, "compose")
        wait_js(driver, "return document.querySelector('input[name=name]').value.startsWith('Copy of')")
        wait_js(driver, "return document.querySelectorAll('[data-chosen]').length === 2", what="the copied choice")
        assert driver.find_element(By.CSS_SELECTOR, "textarea[name=body]").get_attribute("value") == (
            "Hi {{ name }}, code {{ fields.code }}."
        )
        shoot(driver, shots, f"compose-copy-{width}")

        # Saved as a draft: its page says nothing was sent (no "Queued"), and it reopens in compose to be edited.
        click(driver, "button[data-action=save-draft]")
        wait_js(driver, "return document.querySelector('[data-summary=draft]')", timeout=30, what="the draft's page")
        stats = text_of(driver, ".stats")
        assert "Queued" not in stats and "Not started" in stats, stats
        shoot(driver, shots, f"campaign-draft-{width}")
        click(driver, "[data-action=edit-draft]")
        wait_view(driver, "compose")
        wait_js(driver, "return document.querySelector('[data-editing-draft]')", timeout=30, what="editing the draft")
        assert driver.find_element(By.CSS_SELECTOR, "input[name=name]").get_attribute("value").startswith("Copy of")
        fill(driver, "textarea[name=body]", "Bye {{ name }}.")
        click(driver, "button[data-action=save-draft]")
        wait_js(driver, "return document.querySelector('[data-summary=draft]')", timeout=30, what="the saved draft")
        drafts = [c for c in api(server, "GET", "/api/campaigns")["items"] if c["status"] == "draft"]
        assert [d["body"] for d in drafts] == ["Bye {{ name }}."], drafts  # the edited draft replaced the first
        go(driver, "campaigns")
        wait_js(driver, f"return document.querySelector('tr[data-campaign=\"{drafts[0]['id']}\"]')")
        assert "Not started · 2 recipients" in text_of(driver, f'tr[data-campaign="{drafts[0]["id"]}"]')
        assert js_errors(driver) == []


@SIZES
def test_it_says_which_limit_holds_the_rate_back(server: Any, tmp_path: Path, width: int, height: int) -> None:
    with FakeTwilio() as twilio, chromium(width, height) as driver:
        api(server, "PUT", "/api/channels/sms", json=twilio.settings())
        api(server, "POST", "/api/contacts", json={"name": "Ana", "phone": "+14155550101"})
        campaign = api(server, "POST", "/api/campaigns", json={"name": "Paced", "channel": "sms", "body": "Hi",
                                                                "recipients": {"all": True}})  # fmt: skip
        open_app(driver, server)
        go(driver, f"campaigns/{campaign['id']}")
        # The fields `pace_per_min` and `limited_by` of GET /api/campaigns/<id>, as the store receives them.
        driver.execute_script(
            "return import('/lib/store.js').then((m) => m.setCampaign({id: arguments[0], status: 'running',"
            " rate_per_min: 58, pace_per_min: 60, limited_by: 'daily_cap', counts: {total: 1, queued: 1}}))",
            campaign["id"],
        )
        wait_js(driver, "return document.querySelector('[data-limit=daily_cap]')", what="the limit sentence")
        assert "daily cap is reached" in text_of(driver, "[data-limit]")
        assert text_of(driver, "[data-stat=pace] .value").replace("\n", "") == "60/min"
        assert text_of(driver, "[data-stat=rate] .value").replace("\n", "") == "58/min"
        shoot(driver, screenshot_dir(tmp_path), f"monitor-limited-{width}")
        assert js_errors(driver) == []


@SIZES
def test_it_shows_the_reconnect_banner_above_the_page_and_reloads_a_failed_screen(
    server: Any, tmp_path: Path, width: int, height: int
) -> None:
    api(server, "POST", "/api/contacts", json={"name": "Ana Silva", "phone": "+14155550101"})
    with chromium(width, height) as driver:
        open_app(driver, server)
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/api/contacts*"]})
        go(driver, "contacts")
        wait_js(driver, "return document.querySelector('#main .notice.err')", what="the failed screen")
        driver.execute_script("return import('/lib/store.js').then((m) => m.setConnection('reconnecting'))")
        wait_js(driver, "return !document.getElementById('conn-banner').hidden", what="the banner")
        banner = driver.execute_script("return document.getElementById('conn-banner').getBoundingClientRect().bottom")
        title = driver.execute_script("return document.querySelector('.page-title').getBoundingClientRect().top")
        assert banner <= title, "the banner covers the page title"
        shoot(driver, screenshot_dir(tmp_path), f"reconnecting-{width}")
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        driver.execute_script("return import('/lib/store.js').then((m) => m.setConnection('live'))")
        wait_js(driver, "return document.querySelectorAll('tr[data-contact]').length === 1", what="the reloaded list")
        assert driver.execute_script("return document.getElementById('conn-banner').hidden")


def wait_js_py(check: Any, what: str, timeout: float = 15.0) -> Any:
    from tests.ui_support import until

    return until(check, timeout=timeout, what=what)
