"""Our own rules for the quoted history, signatures and closings that `mail-parser-reply` misses (used by
mail_text.new_text), each kept for the real sample that needs it (tests/data/replies/, README there names the
sources; the sample is named beside each rule below).

`cut(text)` returns the text above the first line that starts quoted history:
- a line of underscores, or of ten or more dashes (Outlook puts one above the quoted header block: talon
  `outlook.eml`, mail-parser-reply `email_2_1.txt`, `email_nl_1_2.txt`; `email_zh_1.txt` above the signature);
- `-----Original Message-----` and its translations (Outlook desktop: `email_danish_4.txt`);
- a quoted header block: `From:` (or `Von:`, `De :`, `Van:`, `Od:`, `Da:`, `Från:`, `Fra:`, `差出人:`) followed
  within three lines by `Sent:`/`Date:`/`To:`/`Subject:` in the same languages (`email_headers_no_delimiter.txt`);
  such a block at the very top (a client that pastes the header above the reply: `email_pl_1_1.txt`) is
  dropped instead;
- "On <date>, <name> wrote:" in one line or two, in the other languages' words too, and any line ending with
  such a word that names an address (`email_zh_2.txt` "写道：", talon `android.eml` "написал:");
- a line of `>` quotes after the new text;
- a disclaimer heading alone on a line (`caution2.txt`).
A rule that would leave no words at all is not applied, and a reply written under the quote is read from its
unquoted lines (`unquoted`: talon `thunderbird.eml`). `trim(text)` then drops what closes the reply: a last
line "Sent from ..." of a few words (`email_1_6.txt`; "Sent from my desk, is much easier..." stays:
`email_sent_from_not_signature.txt`) and a last block of at most three short lines that starts with a closing
word ("Saludos", "Saluti", "Groet"...: `email_es_wrap.txt`, `email_it_wrap.txt`, `email_nl_wrap.txt`), or a
last line alone that signs a name with a dash ("-Abhishek Kona": `email_1_1.txt`; "- item" lists stay).
Of mail-parser-reply's signatures, `closing_signature` keeps only those whose first line is a closing phrase.
Each line is looked at alone and only its first MAX_LINE characters, so the work is linear in the text.
"""

from __future__ import annotations

import re

MAX_LINE = 300
#: a closing is one short phrase ("Med venlig hilsen", "Thanks, Anna"); a line that goes on into a second
#: sentence is the reply's own words ("Tak for din mail. Det lyder godt.": `email_danish_1.txt`).
_SECOND_SENTENCE = re.compile(r"[.!?]\s+\w")
MAX_CLOSING_WORDS = 8
#: "-Abhishek Kona" alone below the reply: a name signed with a dash (`email_1_1.txt`, `email_nl_1_1.txt`);
#: "- item" (a space after the dash) is a list and stays (`email_1_5.txt`, `email_bullets.txt`).
_DASH_NAME = re.compile(r"-[^\W\d_][\w.'-]*(?: [\w.'-]+){0,3}")

SEPARATORS = (
    "-----original message-----",
    "----- original message -----",
    "-----ursprüngliche nachricht-----",
    "-----message d'origine-----",
    "-----mensaje original-----",
    "-----messaggio originale-----",
    "-----oorspronkelijk bericht-----",
    "-----wiadomość oryginalna-----",
    "-----oprindelig meddelelse-----",
    "-----ursprungligt meddelande-----",
    "-----mensagem original-----",
    "--- original message ---",
    "----- forwarded message -----",
    "---------- forwarded message ---------",
)
FROM_WORDS = ("from:", "von:", "de :", "de:", "van:", "od:", "da:", "från:", "fra:", "差出人:", "发件人:", "寄件者:")
HEAD_WORDS = (
    "sent:", "date:", "to:", "subject:", "cc:",
    "gesendet:", "datum:", "an:", "betreff:",
    "envoyé :", "envoyé:", "date :", "à :", "objet :",
    "enviado el:", "enviado:", "fecha:", "para:", "asunto:",
    "inviato:", "data:", "a:", "oggetto:",
    "verzonden:", "aan:", "onderwerp:",
    "wysłano:", "do:", "temat:",
    "skickat:", "till:", "ämne:",
    "送信日時:", "宛先:", "件名:", "发送时间:", "收件人:", "主题:",
)  # fmt: skip
WROTE_ENDINGS = (
    "wrote:", "a écrit :", "a écrit:", "schrieb:", "escribió:", "ha scritto:", "schreef:", "pisze:",
    "napisał:", "napisała:", "napisał(a):", "skrev:", "escreveu:", "kirjoitti:", "написал:", "написала:",
    "napsal:", "napsal(a):", "写道：", "写道:", "寫道：", "wrote：",
)  # fmt: skip
DISCLAIMERS = ("disclaimer", "confidentiality notice", "vertraulichkeitshinweis", "avertissement", "aviso legal")
CLOSINGS = (
    "regards", "best regards", "kind regards", "best", "thanks", "thank you", "cheers", "saludos", "un saludo",
    "atentamente", "saluti", "cordiali saluti", "distinti saluti", "groet", "groeten", "met vriendelijke groet",
    "cordialement", "bien à vous", "viele grüße", "liebe grüße", "mit freundlichen grüßen", "beste grüße",
    "pozdrawiam", "z poważaniem", "s pozdravem", "hilsen", "med venlig hilsen", "mvh", "med vänlig hälsning",
    "vänliga hälsningar", "hälsningar", "abraços", "atenciosamente", "с уважением",
)  # fmt: skip
MOBILE = ("sent from ", "envoyé de mon", "gesendet von meinem", "enviado desde mi", "inviato da", "verzonden vanaf")
WROTE_STARTS = ("on ", "le ", "am ", "el ", "il ", "op ", "w dniu ", "den ", "em ", "dnia ")


def _is_rule(line: str) -> bool:
    stripped = line.strip()
    return (len(stripped) >= 20 and set(stripped) == {"_"}) or (len(stripped) >= 10 and set(stripped) <= {"-", "—"})


def _starts_header_block(lines: list[str], index: int) -> bool:
    first = lines[index].strip().lower().lstrip("*")
    if not first.startswith(FROM_WORDS):
        return False
    following = [line.strip().lower().lstrip("*") for line in lines[index + 1 : index + 4]]
    return any(line.startswith(HEAD_WORDS) for line in following)


def _wrote(lines: list[str], index: int) -> bool:
    """An "On ... wrote:" line (or its first half), or a line ending in such a word that names an address."""
    lowered = lines[index].strip().lower()
    second = lines[index + 1].strip().lower() if index + 1 < len(lines) else ""
    if lowered.startswith(WROTE_STARTS) and (lowered.endswith(WROTE_ENDINGS) or second.endswith(WROTE_ENDINGS)):
        return True
    if lowered.endswith(WROTE_ENDINGS) and "@" in lowered:
        return True
    return "@" in lowered and lowered.endswith("<") and second.endswith(WROTE_ENDINGS)


def _starts_history(lines: list[str], index: int) -> bool:
    lowered = lines[index].strip().lower()
    return (
        _is_rule(lines[index])
        or lowered in SEPARATORS
        or lowered in DISCLAIMERS
        or _starts_header_block(lines, index)
        or _wrote(lines, index)
        or lowered.startswith(">")
    )


def _skip_top_header(lines: list[str]) -> int:
    """Where the reply starts when a header block opens the text: after its first empty line; else 0."""
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    if not _starts_header_block(lines, first):
        return 0
    return next((i + 1 for i in range(first, len(lines)) if not lines[i].strip()), 0)


def cut(text: str) -> str:
    """`text` above the first line our rules see as the start of quoted history, then `trim`med."""
    originals = text.split("\n")
    lines = [line[:MAX_LINE] for line in originals]
    start = _skip_top_header(lines)
    seen_words = False
    for index in range(start, len(lines)):
        if _starts_history(lines, index):
            if seen_words:
                return trim("\n".join(originals[start:index]))
        elif lines[index].strip():
            seen_words = True
    return trim("\n".join(originals[start:]))


def starts_with_quote(text: str) -> bool:
    """Whether the first line with words opens quoted history (a reply written under the quote)."""
    lines = [line[:MAX_LINE] for line in text.split("\n")[:200]]
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    return first is not None and _starts_history(lines, first)


def unquoted(text: str) -> str:
    """The lines of a reply written under the quote: without the `>` lines and the "... wrote:" line."""
    lines = text.split("\n")
    kept = [line for i, line in enumerate(lines) if not line.lstrip().startswith(">") and not _wrote(lines, i)]
    return "\n".join(kept).strip()


def closing_signature(body: str, pattern: re.Pattern[str]) -> str:
    """`body` without the signature that mail-parser-reply's `pattern` finds, searched from the first match
    whose first line reads as a closing (one short phrase) rather than a sentence that opens with a closing
    word; `body` whole when there is none. The library's Danish "Tak" (thanks) otherwise cuts "Tak for din
    mail. Det lyder godt." and all below it (`email_danish_1.txt`)."""
    position = 0
    for _ in range(50):  # each round moves past one line; a reply has few lines that open with such a word
        found = pattern.search(body, position)
        if found is None:
            return body
        start = found.start() + (len(found.group()) - len(found.group().lstrip()))
        end = body.find("\n", start)
        first = body[start : end if end >= 0 else len(body)].strip()
        if not _SECOND_SENTENCE.search(first) and len(first.split()) <= MAX_CLOSING_WORDS:
            return body[:start]
        if end < 0:
            return body
        position = end + 1
    return body


def _is_closing(line: str) -> bool:
    return line.strip().lower().rstrip(",.!").strip() in CLOSINGS


def trim(text: str) -> str:
    """Drop a last mobile "Sent from ..." line, a last "-Name" line and a last short block opening with a closing."""
    lines = text.rstrip().split("\n")
    last = lines[-1].strip().lower() if lines else ""
    if last.startswith(MOBILE) and len(last.split()) <= 8 and not any(c in last for c in ",.!?"):
        lines = lines[:-1]
    while lines and not lines[-1].strip():
        lines.pop()
    blank = max((i for i, line in enumerate(lines) if not line.strip()), default=-1)
    block = lines[blank + 1 :]
    if blank > 0 and len(block) == 1 and _DASH_NAME.fullmatch(block[0].strip()):
        return "\n".join(lines[:blank]).rstrip()
    if blank > 0 and 1 <= len(block) <= 3 and _is_closing(block[0]) and all(len(b) <= 40 for b in block):
        lines = lines[:blank]
    return "\n".join(lines).rstrip()
