"""Malformed settings and ids answer a 4xx with the JSON error shape (issue 21, item 10), and a connection that
fails says so in our words (item 7): never what the other side sent, and a port that refuses, one that drops
the connection after a banner and one that never answers read the same (saving settings must not map which
services listen where)."""

from __future__ import annotations

import io
import json
import socket
import threading
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes.smtp_server import FakeSmtpServer, free_port
from tests.fakes.twilio import FakeTwilio

BANNER = b"SSH-2.0-OpenSSH_9.2 internal-secret-banner\r\n"
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000


def _is_json_error(answer: Any) -> bool:
    body = answer.get_json(silent=True)
    return isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("message"), str)


# -- the 500s of the attack run ----------------------------------------------------------------------------------


@pytest.mark.parametrize("thread", ["contact-²", "contact-١٢", "contact-" + "9" * 30, "contact--1", "contact- 1"])
def test_it_keeps_the_conversation_list_working_whatever_id_a_message_was_posted_to(
    client: Any, auth: dict[str, str], thread: str
) -> None:
    with FakeTwilio() as twilio:
        assert client.put("/api/channels/sms", json=twilio.settings(), headers=auth).status_code == 200
        posted = client.post(f"/api/conversations/{thread}/messages", json={"source": "sms", "to": "+14155552671",
                             "body": "Hello"}, headers=auth)  # fmt: skip
        assert posted.status_code == 201, posted.get_json()
        listed = client.get("/api/conversations", headers=auth)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.get_json()["items"]] == [thread]


@pytest.mark.parametrize(
    "when", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59Z", "1000-01-01"]
)
def test_it_refuses_a_scheduled_time_out_of_range_with_a_400(client: Any, auth: dict[str, str], when: str) -> None:
    client.post("/api/contacts", json={"name": "Ana", "phone": "+14155552671"}, headers=auth)
    created = client.post("/api/campaigns", json={"name": "x", "channel": "sms", "body": "hi",
                          "recipients": {"all": True}, "scheduled_at": when}, headers=auth)  # fmt: skip
    assert created.status_code == 400 and _is_json_error(created)
    assert created.get_json()["details"][0]["field"] == "scheduled_at"


@pytest.mark.parametrize(
    ("channel", "settings", "field"),
    [
        ("smtp", {"host": "a" * 300, "port": 25, "security": "none", "from_address": "a@example.org"}, "host"),
        ("smtp", {"host": "a" * 64 + ".example.org", "port": 25, "security": "none", "from_address": "a@example.org"},
         "host"),
        ("smtp", {"host": "127.0.0.1", "port": 25, "security": "none", "from_address": "a@example.org",
                  "imap_host": "b" * 64 + ".example.org", "imap_username": "u", "imap_password": "p"}, "imap_host"),
        ("smtp", {"host": "127.0.0.1", "port": 25, "security": "none", "from_address": "a@example.org",
                  "imap_host": "127.0.0.1", "imap_port": "²", "imap_username": "u", "imap_password": "p"}, "imap_port"),
        ("sms", {"account_sid": "AC" + "0" * 32, "auth_token": "x", "from_number": "+15005550006",
                 "api_base_url": "http://[::1"}, "api_base_url"),
        ("gmail", {"client_config": DEEP_OBJECT}, "client_config"),
    ],
)  # fmt: skip
def test_it_refuses_malformed_channel_settings_with_a_400_naming_the_field(
    client: Any, auth: dict[str, str], channel: str, settings: dict[str, Any], field: str
) -> None:
    answer = client.put(f"/api/channels/{channel}", json=settings, headers=auth)
    assert answer.status_code == 400 and _is_json_error(answer), answer.get_data(as_text=True)[:300]
    assert field in json.dumps(answer.get_json())


def test_it_refuses_a_public_url_with_an_unclosed_bracket_with_a_400(client: Any, auth: dict[str, str]) -> None:
    answer = client.put("/api/settings", json={"public_url": "http://[::1"}, headers=auth)
    assert answer.status_code == 400 and answer.get_json()["details"][0]["field"] == "public_url"


def _xlsx(cell_xml: str) -> bytes:
    types = ('<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" '
             'ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
             'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
             'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
             'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
             "</Types>")  # fmt: skip
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("_rels/.rels", f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
                         f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>')  # fmt: skip
        archive.writestr("xl/workbook.xml", f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets><sheet name="S" '
                         'sheetId="1" r:id="rId1"/></sheets></workbook>')  # fmt: skip
        archive.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
                         f'Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')  # fmt: skip
        archive.writestr("xl/worksheets/sheet1.xml", f'<worksheet xmlns="{main}"><sheetData><row r="1">{cell_xml}'
                         "</row></sheetData></worksheet>")  # fmt: skip
    return buffer.getvalue()


@pytest.mark.parametrize("route", ["/api/contacts/import", "/api/contacts/import/preview"])
def test_it_refuses_an_xlsx_with_an_undefined_entity_with_a_400(client: Any, auth: dict[str, str], route: str) -> None:
    workbook = _xlsx('<c r="A1" t="inlineStr"><is><t>name&undefined;</t></is></c>')
    answer = client.post(route, data={"file": (io.BytesIO(workbook), "contacts.xlsx")}, headers=auth)
    assert answer.status_code == 400 and _is_json_error(answer), answer.get_data(as_text=True)[:300]
    assert "XLSX" in answer.get_json()["message"] or "sheet" in answer.get_json()["message"]


def test_it_closes_a_websocket_hello_nested_100000_deep_as_invalid(live_server: Any) -> None:
    url = live_server.url.replace("http://", "ws://") + "/ws"
    ws = websocket.create_connection(url, timeout=10, origin=live_server.url)
    try:
        ws.send('{"type": "hello", "ticket": ' + "[" * 100_000 + "]" * 100_000 + "}")
        opcode, data = ws.recv_data(control_frame=True)
    finally:
        ws.close(timeout=0)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 1008
    assert b"invalid hello" in data


# -- connection errors in our words ------------------------------------------------------------------------------


class _Listener:
    """A TCP port on 127.0.0.1 that sends a banner and hangs up (`banner`), or accepts and never answers."""

    def __init__(self, banner: bytes | None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.banner = banner
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.banner is None:
                self.held.append(conn)  # silent: the client times out
                continue
            conn.sendall(self.banner)
            conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def ports() -> Iterator[dict[str, int]]:
    banner, silent = _Listener(BANNER), _Listener(None)
    http = _Listener(b"HTTP/1.1 404 Not Found\r\nContent-Length: 22\r\n\r\ninternal-secret-banner")
    try:
        yield {"closed": free_port(), "banner": banner.port, "silent": silent.port, "http": http.port}
    finally:
        banner.close(), silent.close(), http.close()


def _reasons(client: Any, auth: dict[str, str], put: Any, ports: dict[str, int]) -> dict[str, str]:
    reasons = {}
    for kind, port in ports.items():
        path, body = put(port)
        answer = client.put(path, json=body, headers=auth)
        assert answer.status_code == 400, answer.get_json()
        reasons[kind] = answer.get_json()["message"].replace(str(port), "PORT")
    return reasons


def test_it_says_an_smtp_host_failed_in_the_same_words_whatever_the_port_did(
    client: Any, auth: dict[str, str], ports: dict[str, int]
) -> None:
    def put(port: int) -> tuple[str, dict[str, Any]]:
        return "/api/channels/smtp", {"host": "127.0.0.1", "port": port, "security": "none", "timeout_s": 1,
                                      "from_address": "news@example.org"}  # fmt: skip

    reasons = _reasons(client, auth, put, ports)
    assert len(set(reasons.values())) == 1, reasons
    assert "internal-secret-banner" not in reasons["banner"] and "refused" not in reasons["closed"]


def test_it_says_an_imap_inbox_failed_in_the_same_words_whatever_the_port_did(
    client: Any, auth: dict[str, str], ports: dict[str, int]
) -> None:
    with FakeSmtpServer() as smtp:

        def put(port: int) -> tuple[str, dict[str, Any]]:
            return "/api/channels/smtp", {"host": "127.0.0.1", "port": smtp.port, "security": "none",
                                          "from_address": "news@example.org", "timeout_s": 1, "imap_host": "127.0.0.1",
                                          "imap_port": port, "imap_security": "none", "imap_username": "u",
                                          "imap_password": "p"}  # fmt: skip

        reasons = _reasons(client, auth, put, ports)
    assert len(set(reasons.values())) == 1, reasons
    assert "internal-secret-banner" not in reasons["banner"] and "inbox" in reasons["banner"]


def test_it_says_an_sms_api_base_url_failed_in_the_same_words_whatever_the_port_did(
    client: Any, auth: dict[str, str], ports: dict[str, int]
) -> None:
    def put(port: int) -> tuple[str, dict[str, Any]]:
        base = f"http://127.0.0.1:{port}"
        return "/api/channels/sms", {"account_sid": "AC" + "0" * 32, "auth_token": "x" * 32,
                                     "from_number": "+15005550006", "api_base_url": base}  # fmt: skip

    del ports["silent"]  # the SMS read timeout is 20 s; a silent port reads like the others, only slower
    reasons = _reasons(client, auth, put, ports)
    assert len(set(reasons.values())) == 1, reasons
    assert "internal-secret-banner" not in reasons["http"] and "404" not in reasons["http"]


# -- /api/health names no path to a stranger (item 11) ----------------------------------------------------------


def test_it_says_what_is_wrong_with_the_store_without_naming_a_path_unless_signed_in(
    client: Any, services: Any, auth: dict[str, str], tmp_path: Any
) -> None:
    from backend.store.health import StoreHealth

    broken = tmp_path / "secret-location" / "not-a-folder"
    broken.parent.mkdir()
    broken.write_text("a file where the data folder should be")
    services.store_health = StoreHealth(broken, services.config.database_url)

    stranger = client.get("/api/health")
    assert stranger.status_code == 503
    problem = stranger.get_json()["problems"][0]
    assert problem["code"] == "disk_not_writable" and problem["message"] and problem["fix"]
    assert "secret-location" not in stranger.get_data(as_text=True) and "/" not in problem["message"]
    owner = client.get("/api/health", headers=auth).get_json()["problems"][0]
    assert owner["where"] == str(broken) and owner["message"] == problem["message"]


_URLISH = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda host, rest: f"http://{host}{rest}", st.text(max_size=70), st.sampled_from(["", "/", ":99999", ":x"])
    ),
    st.builds(lambda host: f"https://[{host}", st.text(alphabet="0123456789abcdef:.[]", max_size=40)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          derandomize=True)  # fmt: skip
@given(url=_URLISH)
def test_it_answers_any_public_url_with_a_200_or_a_json_400(client: Any, auth: dict[str, str], url: str) -> None:
    answer = client.put("/api/settings", json={"public_url": url}, headers=auth)
    assert answer.status_code in (200, 400), (url, answer.get_data(as_text=True)[:200])
    if answer.status_code == 400:
        assert _is_json_error(answer)
