"""Our own rules for the quoted history that `mail-parser-reply` misses (used by mail_text.new_text).

`cut(text)` returns the text above the first line that starts quoted history, by rules of our own, each kept
for a real sample that needs it (tests/data/replies/, README there names the sources):
- a line of underscores (Outlook on the web and Outlook for Windows put `________________________________`
  above the quoted header block: talon `outlook.eml`, `hotmail.eml`);
- `-----Original Message-----` and its translations (Outlook desktop);
- a quoted header block: a line `From:` (or `Von:`, `De :`, `Van:`, `Od:`, `Da:`, `Från:`, `差出人:`) followed
  within three lines by `Sent:`/`Date:`/`To:`/`Subject:` in the same languages (Outlook, Apple Mail forwards);
- "On <date>, <name> wrote:" split over two lines by the sender's client (talon `apple_mail_2.eml`, Gmail
  wraps long names), and the same in the other languages' words;
- a line of `>` quotes that follows the new text (clients that quote without a header).
Each line is looked at alone and only its first MAX_LINE characters, so the work is linear in the text.
"""

from __future__ import annotations

MAX_LINE = 300

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
    "napisał:", "napisała:", "skrev:", "escreveu:", "kirjoitti:", "написал:", "napsal:",
)  # fmt: skip
WROTE_STARTS = ("on ", "le ", "am ", "el ", "il ", "op ", "w dniu ", "den ", "em ", "dnia ")


def _is_underscores(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= 20 and set(stripped) == {"_"}


def _starts_header_block(lines: list[str], index: int) -> bool:
    first = lines[index].strip().lower().lstrip("*")
    if not first.startswith(FROM_WORDS):
        return False
    following = [line.strip().lower().lstrip("*") for line in lines[index + 1 : index + 4]]
    return any(line.startswith(HEAD_WORDS) for line in following)


def _wrote_over_two_lines(lines: list[str], index: int) -> bool:
    first = lines[index].strip().lower()
    if not first.startswith(WROTE_STARTS) or index + 1 >= len(lines):
        return False
    second = lines[index + 1].strip().lower()
    return second.endswith(WROTE_ENDINGS) and not first.endswith(WROTE_ENDINGS)


def _wrote_one_line(line: str) -> bool:
    lowered = line.strip().lower()
    return lowered.startswith(WROTE_STARTS) and lowered.endswith(WROTE_ENDINGS)


def cut(text: str) -> str:
    """`text` above the first line our rules see as the start of quoted history."""
    lines = [line[:MAX_LINE] for line in text.split("\n")]
    seen_words = False
    for index, line in enumerate(lines):
        lowered = line.strip().lower()
        if (
            _is_underscores(line)
            or lowered in SEPARATORS
            or _starts_header_block(lines, index)
            or _wrote_over_two_lines(lines, index)
            or _wrote_one_line(line)
            or (seen_words and lowered.startswith(">"))
        ):
            return "\n".join(text.split("\n")[:index]).rstrip()
        if lowered and not lowered.startswith(">"):
            seen_words = True
    return text
