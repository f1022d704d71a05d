"""Replies as real clients write them, in many languages (DESIGN section 19, issue 22 item 2): the thread shows
only the new text, the quoted history, signature and closing cut, and the whole mail stays one click away.
Measured on the public corpora of tests/data/replies/ (README there): ours against mail-parser-reply alone."""
# ruff: noqa: F811 - pytest fixtures imported from tests/inbox_support are requested by name

from __future__ import annotations

import json
import re
from email import message_from_bytes
from pathlib import Path

from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES

from backend.conversations.mail_text import full_text, html_to_text, new_text
from tests.inbox_support import configure, http, imap, polled, smtp  # noqa: F401 - fixtures

CORPUS = Path(__file__).parent / "data" / "replies"
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
LIBRARY = EmailReplyParser(languages=[name for name in MAIL_LANGUAGES if name != "david"])


def _same(got: str, want: str) -> bool:
    return re.sub(r"\s", "", got) == re.sub(r"\s", "", want)


def _text_of(path: Path) -> str:
    if path.suffix == ".eml":
        return full_text(message_from_bytes(path.read_bytes()))
    if path.suffix == ".html":
        return html_to_text(path.read_text(encoding="utf-8"))
    return path.read_text(encoding="utf-8")


def _library_alone(text: str) -> str:
    found = LIBRARY.read(text)
    return found.replies[0].body if found.replies else text


def test_it_shows_exactly_the_new_text_of_at_least_90_percent_of_real_replies():
    ours = library = 0
    for name, want in EXPECTED.items():
        text = _text_of(CORPUS / name)
        ours += _same(new_text(text), want)
        library += _same(_library_alone(text), want)
    total = len(EXPECTED)
    print(f"replies with exactly the new text: ours {ours}/{total} = {ours / total:.1%}, "
          f"mail-parser-reply alone {library}/{total} = {library / total:.1%}")  # fmt: skip
    assert total >= 70 and ours / total >= 0.90 and ours > library


def _as_mail(sender: str, subject: str, text: str, number: int) -> bytes:
    return (
        f"From: <{sender}>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <corpus-{number}@example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + text.replace("\n", "\r\n")
    ).encode()


def test_it_files_replies_in_many_languages_with_only_their_new_text(live_server, http, smtp, imap, polled):
    base = live_server.url
    assert configure(http, base, smtp, imap).status_code == 200
    samples = ["fr", "de", "es", "it", "nl", "cs", "da", "sv", "en"]
    files = [f"mail-parser-reply/email_{code}_wrap.txt" for code in samples]
    files += ["mail-parser-reply/email_ja_1_2.txt", "mail-parser-reply/email_pl_1_2.txt", "talon/outlook.eml"]
    for number, name in enumerate(files):
        imap.deliver(_as_mail(f"writer{number}@example.org", "Re: Your order", _text_of(CORPUS / name), number))

    done = http.post(f"{base}/api/trigger/inbox", timeout=120).json()

    assert (done["read"], done["replies"], done["unreadable"]) == (len(files), len(files), 0)
    people = {c["email"]: c for c in http.get(f"{base}/api/contacts", timeout=5).json()["items"]}
    for number, name in enumerate(files):
        contact = people[f"writer{number}@example.org"]
        [message] = http.get(f"{base}/api/conversations/contact-{contact['id']}/messages", timeout=5).json()["items"]
        assert _same(message["body"], EXPECTED[name]), (name, message["body"])
        assert _same(message["metadata"]["full_text"], _text_of(CORPUS / name).strip()), name


def test_lists_and_sentences_that_open_with_a_closing_word_are_the_reply_not_its_signature():
    # "- item" lists stay ("-Name" alone below the reply is a signature); the Danish "Tak for din mail." is a
    # sentence, not the closing "Tak" that mail-parser-reply takes it for.
    for name in ("email_1_5.txt", "email_bullets.txt", "email_danish_1.txt", "email_1_1.txt", "email_nl_1_1.txt"):
        path = CORPUS / "mail-parser-reply" / name
        assert _same(new_text(_text_of(path)), EXPECTED[f"mail-parser-reply/{name}"]), name
    assert "- two" in new_text("Here:\n- one\n- two\n\nOn Mon, 1 Jan 2024, Ann <a@example.org> wrote:\n> old")
