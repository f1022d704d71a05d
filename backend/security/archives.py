"""Compressed uploads are checked for their inflated size before anything parses them (DESIGN section 11).

An XLSX is a zip of XML parts. `check_inflated_size(stream)` refuses, before the workbook is opened:
- a workbook whose parts declare more than `MAX_INFLATED` bytes in all, or more than `MAX_PART` for one part;
- a part that inflates more than `MAX_RATIO` times (no honest spreadsheet part compresses like a zip bomb);
- a part whose real inflated size differs from what its header declares (a bomb with lying headers): every part
  is streamed through the decompressor in pieces, counting, and the count is capped, so nothing is ever held
  whole in memory and the check stops at the cap.
Raises ArchiveTooLarge (or ArchiveBroken) with a sentence for the user; leaves the stream at its start.
"""

from __future__ import annotations

import zipfile
from typing import IO

MAX_INFLATED = 64 * 1024 * 1024
MAX_PART = 48 * 1024 * 1024
MAX_RATIO = 200
#: parts smaller than this are never judged by their ratio (tiny XML compresses very well).
RATIO_FLOOR = 1024 * 1024
CHUNK = 256 * 1024


class ArchiveTooLarge(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ArchiveBroken(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_inflated_size(stream: IO[bytes]) -> int:
    """Total inflated bytes of the archive's parts, after checking each against the limits above."""
    limit_mb = MAX_INFLATED // (1024 * 1024)
    try:
        with zipfile.ZipFile(stream) as archive:
            parts = archive.infolist()
            declared = sum(p.file_size for p in parts)
            if declared > MAX_INFLATED:
                raise ArchiveTooLarge(
                    f"The workbook unpacks to {declared // (1024 * 1024):,} MB, more than {limit_mb} MB; "
                    "save it as CSV, or split it."
                )
            total = 0
            for part in parts:
                if part.file_size > MAX_PART or (
                    part.file_size > RATIO_FLOOR and part.file_size > MAX_RATIO * max(part.compress_size, 1)
                ):
                    raise ArchiveTooLarge(f"The workbook part {part.filename!r} unpacks to an implausible size.")
                total += _stream_part(archive, part, MAX_INFLATED - total)
            return total
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError) as exc:
        raise ArchiveBroken(f"This is not a readable XLSX workbook ({type(exc).__name__}).") from None
    finally:
        stream.seek(0)


def _stream_part(archive: zipfile.ZipFile, part: zipfile.ZipInfo, budget: int) -> int:
    """Inflate `part` piece by piece (never whole), counting; zipfile checks the CRC and the declared size."""
    count = 0
    with archive.open(part) as data:
        while piece := data.read(CHUNK):
            count += len(piece)
            if count > part.file_size or count > budget:
                raise ArchiveTooLarge(f"The workbook part {part.filename!r} unpacks to more than it declares.")
    if count != part.file_size:
        raise ArchiveBroken(f"The workbook part {part.filename!r} is damaged.")
    return count
