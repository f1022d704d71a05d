"""What a file really is, from its bytes: the type is sniffed with `puremagic` (a maintained pure-Python port of
libmagic's signatures, so it runs the same on Windows, macOS and in the packaged app), never taken from the name.

The rules that are ours: which kinds a message may carry (images, video, audio, documents), that executables and
scripts are refused whatever their name, and that a name whose extension disagrees with the bytes is refused
("a PNG image named .pdf"). Plain text (CSV, TXT) has no signature: it is accepted when it decodes as UTF-8, has
no NUL byte and does not open with `#!`.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePath

import puremagic

#: how much of the file the sniffers read.
HEAD_BYTES = 64 * 1024

IMAGE = "image"
VIDEO = "video"
AUDIO = "audio"
DOCUMENT = "document"

#: extension (lower case, no dot) -> (content type, kind) for what a message may carry.
ALLOWED: dict[str, tuple[str, str]] = {
    "png": ("image/png", IMAGE),
    "jpg": ("image/jpeg", IMAGE),
    "jpeg": ("image/jpeg", IMAGE),
    "gif": ("image/gif", IMAGE),
    "webp": ("image/webp", IMAGE),
    "mp4": ("video/mp4", VIDEO),
    "3gp": ("video/3gpp", VIDEO),
    "mov": ("video/quicktime", VIDEO),
    "webm": ("video/webm", VIDEO),
    "mp3": ("audio/mpeg", AUDIO),
    "ogg": ("audio/ogg", AUDIO),
    "oga": ("audio/ogg", AUDIO),
    "opus": ("audio/ogg", AUDIO),
    "m4a": ("audio/mp4", AUDIO),
    "aac": ("audio/aac", AUDIO),
    "amr": ("audio/amr", AUDIO),
    "wav": ("audio/wav", AUDIO),
    "pdf": ("application/pdf", DOCUMENT),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", DOCUMENT),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", DOCUMENT),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", DOCUMENT),
    "doc": ("application/msword", DOCUMENT),
    "xls": ("application/vnd.ms-excel", DOCUMENT),
    "ppt": ("application/vnd.ms-powerpoint", DOCUMENT),
    "odt": ("application/vnd.oasis.opendocument.text", DOCUMENT),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", DOCUMENT),
    "txt": ("text/plain", DOCUMENT),
    "csv": ("text/csv", DOCUMENT),
}
#: names the sniffers give one format under several extensions.
_SAME = {"jpe": "jpeg", "jfif": "jpeg", "jpg": "jpeg", "qt": "mov", "m4v": "mp4", "oga": "ogg", "opus": "ogg"}
_EXECUTABLE_MIME = ("executable", "x-dosexec", "x-elf", "x-mach", "x-sharedlib", "java-archive", "x-msdownload")
_EXECUTABLE_EXT = {
    "exe", "dll", "sys", "drv", "scr", "com", "msi", "elf", "so", "dylib", "jar", "apk", "appimage", "bat", "cmd",
    "ps1", "vbs", "js", "sh", "py", "pl", "rb", "php", "html", "htm", "svg", "hta", "lnk", "cpl", "deb", "rpm",
}  # fmt: skip
_TEXT = {"txt", "csv"}


class MediaRefused(ValueError):
    """The file cannot be a message attachment; `reason` says why in the user's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    kind: str
    extension: str


def _norm(ext: str) -> str:
    ext = ext.lower().lstrip(".")
    return _SAME.get(ext, ext)


def _label(ext: str) -> str:
    return f".{ext}" if ext else "no extension"


def sniff_file(path: Path, filename: str) -> Sniffed:
    """The type of the file at `path`, uploaded as `filename` (see `sniff`); ZIP containers (Office documents,
    OpenDocument) are told apart by their directory, which is read without inflating anything."""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    if head.startswith(b"PK\x03\x04"):
        return _check_name(_zip_kind(path), PurePath(filename).suffix.lower().lstrip("."))
    return sniff(head, filename)


def sniff(head: bytes, filename: str) -> Sniffed:
    """The type of a file whose first bytes are `head` (HEAD_BYTES of them, or all of a smaller file).

    Raises MediaRefused for an executable or script, a type messages do not carry, or a name that disagrees.
    """
    named = PurePath(filename).suffix.lower().lstrip(".")
    if head.startswith((b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"#!")):
        raise MediaRefused("programs and scripts cannot be attached")
    if head.startswith(b"PK\x03\x04"):
        raise MediaRefused("a ZIP file is read from its whole content (sniff_file)")
    try:
        matches = puremagic.magic_string(head, filename=None)
    except puremagic.PureError:
        matches = []
    best = max((m.confidence for m in matches), default=0.0)
    # Only the likeliest readings count: a bare ZIP header also reads, less surely, as a Java archive.
    candidates = [
        (_norm(m.extension), m.mime_type) for m in matches if m.confidence == best and (m.extension or m.mime_type)
    ]
    if any(ext in _EXECUTABLE_EXT or any(word in mime for word in _EXECUTABLE_MIME) for ext, mime in candidates):
        raise MediaRefused("programs and scripts cannot be attached")
    if _norm(named) in _EXECUTABLE_EXT:
        raise MediaRefused(f"files named {_label(named)} cannot be attached")
    if not candidates:
        return _text(head, named)
    exts = [ext for ext, _ in candidates]
    if named and _norm(named) in exts and named in ALLOWED:
        chosen = named
    else:
        chosen = next((e for e in (ext if ext in ALLOWED else _reverse(ext) for ext in exts) if e), "")
        if not chosen:
            raise MediaRefused(f"this kind of file ({candidates[0][1] or _label(exts[0])}) cannot be attached")
    return _check_name(chosen, named)


def _check_name(chosen: str, named: str) -> Sniffed:
    if named and _norm(named) != _norm(chosen):
        raise MediaRefused(f"the file is {_describe(chosen)} but its name ends in {_label(named)}")
    content_type, kind = ALLOWED[chosen]
    return Sniffed(content_type, kind, chosen)


#: OpenDocument's first entry, `mimetype`, names the format.
_OPENDOCUMENT = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
}
#: Office Open XML: the folder that holds the main part.
_OOXML = {"word/": "docx", "xl/": "xlsx", "ppt/": "pptx"}


def _zip_kind(path: Path) -> str:
    """docx, xlsx, pptx, odt or ods from a ZIP's directory; programs (Java, Android) and macros are refused."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if any(
                n.endswith((".class", ".dex")) or n in ("META-INF/MANIFEST.MF", "AndroidManifest.xml") for n in names
            ):
                raise MediaRefused("programs and scripts cannot be attached")
            if any(n.lower().endswith("vbaproject.bin") for n in names):
                raise MediaRefused("documents with macros cannot be attached")
            if "mimetype" in names and archive.getinfo("mimetype").file_size < 200:
                kind = _OPENDOCUMENT.get(archive.read("mimetype").decode("ascii", "replace").strip())
                if kind:
                    return kind
            if "[Content_Types].xml" in names:
                for folder, kind in _OOXML.items():
                    if any(n.startswith(folder) for n in names):
                        return kind
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise MediaRefused("the file looks like a ZIP archive but cannot be read") from exc
    raise MediaRefused("ZIP archives cannot be attached (send the files inside it instead)")


def _reverse(ext: str) -> str | None:
    """An allowed extension whose normal form is `ext` (the sniffer says `jpeg`; `jpg` is allowed too)."""
    return next((e for e in ALLOWED if _norm(e) == ext), None)


_KIND_WORDS = {IMAGE: "an image", VIDEO: "a video", AUDIO: "an audio file", DOCUMENT: "a document"}


def _describe(ext: str) -> str:
    return f"{_KIND_WORDS[ALLOWED[ext][1]]} ({ext.upper()})"


def _text(head: bytes, named: str) -> Sniffed:
    if named not in _TEXT:
        raise MediaRefused(
            "the file's type could not be recognised from its content"
            + ("" if not named else f" (a file named {_label(named)} must be an image, video, audio or document)")
        )
    if b"\x00" in head:
        raise MediaRefused(f"the file is named {_label(named)} but is not text")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a character cut at the end of the sample is fine
            raise MediaRefused(f"the file is named {_label(named)} but is not UTF-8 text") from None
    content_type, kind = ALLOWED[named]
    return Sniffed(content_type, kind, named)
