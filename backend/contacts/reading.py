"""Reading an uploaded table: CSV in any common encoding and delimiter, or XLSX, row by row.

`open_table(stream, filename)` looks at the file once (encoding, delimiter or workbook) and returns a Table whose
`rows()` streams `(row_number, cells)` straight from the (spooled) upload: the file is never held in memory as a
whole, decoded or not. Row numbers are the spreadsheet's: the header is row 1.

Encodings: a BOM decides (UTF-8, UTF-16); UTF-16 without a BOM is recognised by its NUL bytes; then UTF-8 is
checked over the whole file; otherwise the file is Windows-1252 (a superset of Latin-1's printable
characters), or Latin-1 when it holds one of the five bytes Windows-1252 leaves undefined. (A statistical guess
among single-byte encodings took short Western files for Central European ones: `Núñez` became `Núńez`.)
Delimiter: csv.Sniffer over a bounded sample of the first lines among `, ; TAB |` (a sample with many quotes is
judged by the most consistent column count instead: the Sniffer's time grows with the square of the quotes), else
the one the header line holds most of.
Raises ImportFileError with a sentence for the user when the file is empty, binary, not a table, not
decodable, or has more rows than allowed.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from backend.security.archives import ArchiveBroken, ArchiveTooLarge, check_inflated_size

SAMPLE = 64 * 1024
DELIMITERS = ",;\t|"
MAX_COLUMNS = 200
MAX_CELL = 10_000
#: the delimiter is judged on at most this many lines and characters from the start of the file.
SNIFF_LINES = 20
SNIFF_CHARS = 4096
#: csv.Sniffer only sees samples with at most this many quote characters (its time grows with their square).
SNIFF_MAX_QUOTES = 32
#: bytes that Windows-1252 leaves undefined: a file holding one is read as Latin-1.
_CP1252_HOLES = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")


class ImportFileError(ValueError):
    """The file cannot be imported at all; `message` tells the user why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Table:
    format: str  # "csv" | "xlsx"
    columns: list[str]
    encoding: str | None = None
    delimiter: str | None = None
    _rows: Iterator[tuple[int, list[str]]] = field(default=iter(()), repr=False)
    max_rows: int = 1_000_000

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Data rows as (row number, cells), blank rows skipped; raises ImportFileError past `max_rows`."""
        count = 0
        for number, cells in self._rows:
            if not any(c.strip() for c in cells):
                continue
            count += 1
            if count > self.max_rows:
                raise ImportFileError(f"The file has more than {self.max_rows:,} rows; split it into smaller files.")
            yield number, cells


def open_table(stream: IO[bytes], filename: str = "", *, max_rows: int = 1_000_000) -> Table:
    head = stream.read(SAMPLE)
    stream.seek(0)
    if not head.strip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n"):
        raise ImportFileError("The file is empty.")
    name = filename.lower()
    if head.startswith(b"PK\x03\x04") or name.endswith((".xlsx", ".xlsm")):
        table = _open_xlsx(stream)
    elif head.startswith(b"\xd0\xcf\x11\xe0") or name.endswith(".xls"):
        raise ImportFileError("Old Excel files (.xls) cannot be read; save the sheet as .xlsx or CSV.")
    else:
        table = _open_csv(stream, head)
    table.max_rows = max_rows
    return table


# -- CSV ------------------------------------------------------------------------------------------------


def detect_encoding(stream: IO[bytes], head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[:4096]
    if sample.count(b"\x00") > len(sample) // 4:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > len(sample) // 4 and even < odd // 8:
            return "utf-16-le"
        if even > len(sample) // 4 and odd < even // 8:
            return "utf-16-be"
        raise ImportFileError("This is not a table: the file holds binary data. Upload a CSV or XLSX file.")
    if b"\x00" in head:
        raise ImportFileError("This is not a table: the file holds binary data. Upload a CSV or XLSX file.")
    return _single_byte_or_utf8(stream)


def _single_byte_or_utf8(stream: IO[bytes]) -> str:
    """`utf-8` when the whole file decodes as UTF-8, else `cp1252`, else `latin_1`; reads in 64 KB pieces."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, holes = True, False
    try:
        while chunk := stream.read(SAMPLE):
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
            if not utf8 and not holes:
                holes = any(byte in chunk for byte in _CP1252_HOLES)
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    finally:
        stream.seek(0)
    if utf8:
        return "utf-8"
    return "latin_1" if holes else "cp1252"


def detect_delimiter(text: str) -> str:
    """The delimiter, judged on a bounded sample (SNIFF_LINES lines, SNIFF_CHARS characters).

    csv.Sniffer's regular expressions take time quadratic in the quotes of their input (32 KB of `",` took 38 s
    holding the GIL, stalling every request), so it only sees samples with few quotes; others are judged by
    parsing the sample with each candidate (csv.reader: linear) and keeping the most consistent column count.
    """
    lines = [line for line in text[:SNIFF_CHARS].splitlines()[:SNIFF_LINES] if line.strip()]
    if len(lines) > 1 and len(text) > SNIFF_CHARS:
        lines = lines[:-1]  # the last line may be cut in the middle
    if not lines:
        return ","
    sample = "\n".join(lines)
    if sample.count('"') + sample.count("'") <= SNIFF_MAX_QUOTES:
        try:
            return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
        except csv.Error:
            pass
    return _consistent_delimiter(sample, lines[0])


def _consistent_delimiter(sample: str, header: str) -> str:
    """The candidate that splits most rows into as many cells as the header (at least 2), else the header's
    most frequent candidate, else a comma."""
    best, best_score = "", (0.0, 0)
    for delimiter in DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if row]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        score = (counts.count(counts[0]) / len(counts), counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    if best:
        return best
    counts_in_header = {d: header.count(d) for d in DELIMITERS}
    top = max(counts_in_header, key=lambda d: counts_in_header[d])
    return top if counts_in_header[top] else ","


def _open_csv(stream: IO[bytes], head: bytes) -> Table:
    encoding = detect_encoding(stream, head)
    text_stream = io.TextIOWrapper(stream, encoding=encoding, newline="", errors="strict")
    try:
        sample = text_stream.read(SAMPLE // 2)
    except UnicodeDecodeError:
        raise ImportFileError(f"The file is not valid {_label(encoding)} text.") from None
    if sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n") > max(len(sample) // 100, 2):
        raise ImportFileError("This is not a table: the file holds binary data. Upload a CSV or XLSX file.")
    delimiter = detect_delimiter(sample)
    text_stream.seek(0)
    reader = csv.reader(text_stream, delimiter=delimiter)
    rows = _numbered_csv(reader, encoding)
    columns = _header(rows)
    return Table("csv", columns, encoding=_label(encoding), delimiter=delimiter, _rows=rows)


def _numbered_csv(reader: Any, encoding: str) -> Iterator[tuple[int, list[str]]]:
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):  # noqa: B007 - used after the loop on error
            if len(cells) > MAX_COLUMNS:
                raise ImportFileError(f"Row {number} has {len(cells)} columns; this does not look like a table.")
            yield number, [c[:MAX_CELL] for c in cells]
    except UnicodeDecodeError:
        raise ImportFileError(f"The file is not valid {_label(encoding)} text (after row {number}).") from None
    except csv.Error as exc:
        raise ImportFileError(f"Row {number + 1} cannot be read as CSV: {exc}.") from None


def _label(encoding: str) -> str:
    return {
        "utf-8-sig": "UTF-8 (BOM)",
        "utf-8": "UTF-8",
        "utf-16": "UTF-16",
        "utf-16-le": "UTF-16LE",
        "utf-16-be": "UTF-16BE",
        "cp1252": "Windows-1252",
        "latin_1": "Latin-1",
    }.get(encoding, encoding)


def _header(rows: Iterator[tuple[int, list[str]]]) -> list[str]:
    for _number, cells in rows:
        if any(c.strip() for c in cells):
            names: list[str] = []
            for i, cell in enumerate(cells, start=1):
                base = cell.strip() or f"Column {i}"
                name, n = base, 2
                while name in names:
                    name, n = f"{base} ({n})", n + 1
                names.append(name)
            return names
    raise ImportFileError("The file is empty.")


# -- XLSX -----------------------------------------------------------------------------------------------


def _open_xlsx(stream: IO[bytes]) -> Table:
    import zipfile

    from openpyxl import load_workbook

    try:
        check_inflated_size(stream)
    except (ArchiveTooLarge, ArchiveBroken) as exc:
        raise ImportFileError(exc.message) from None
    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, SyntaxError) as exc:  # SyntaxError: bad XML
        raise ImportFileError(f"This is not a readable XLSX workbook ({type(exc).__name__}).") from None
    sheet = workbook.active
    if sheet is None:
        raise ImportFileError("The workbook has no sheet.")
    rows = _numbered_xlsx(sheet.iter_rows(values_only=True), workbook)
    columns = _header(rows)
    return Table("xlsx", columns, _rows=rows)


def _numbered_xlsx(values: Iterator[tuple[Any, ...]], workbook: Any) -> Iterator[tuple[int, list[str]]]:
    number = 0
    try:
        for number, row in enumerate(values, start=1):
            if len(row) > MAX_COLUMNS:
                raise ImportFileError(f"Row {number} has {len(row)} columns; this does not look like a table.")
            yield number, [_cell(v)[:MAX_CELL] for v in row]
    except (SyntaxError, ValueError, KeyError, TypeError) as exc:
        # The sheet's XML is read as the rows are: broken XML (an undefined entity, a bad cell) shows up here.
        raise ImportFileError(
            f"The sheet cannot be read after row {number} ({type(exc).__name__}); save it again from Excel or as CSV."
        ) from None
    finally:
        workbook.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # phone numbers typed as numbers
    return str(value).strip()
