"""Read labelled texts from a CSV, TSV, JSONL, JSON or Parquet file into ``Examples``.

Every problem with a file is one ``DataError`` that names the file, the row and the column
where they apply, and the likely fix. Rows are counted as a user counts them: 1 is the first
data row. For CSV/TSV the header is not a data row; for JSONL the row is the line number;
for JSON and Parquet it is the position in the list or table. Blank rows are skipped but
still counted, so the rows after them keep the numbers the user sees.

How cells become strings:

- texts and labels are stripped of surrounding whitespace;
- CSV/TSV cells are kept as written: ``NA``, ``None`` and ``1.0`` are text, never missing;
- in JSON and Parquet a label may be a string or a number: ``1`` and ``1.0`` both become
  ``"1"``, other floats are written as Python prints them (``"0.5"``); true/false, lists,
  objects, null and NaN are errors;
- a text must be a string; a number, list or null in the text column is an error.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import errno
import io
import json
import math
import os
import re
import stat
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from shouldtune.errors import DataError

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet")
MAX_CELL_CHARS = 1_000_000
_DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_UNREADABLE_CHARACTER = re.compile("[\x00\udc80-\udcff]")  # NUL, or a byte UTF-8 rejected
_ABSENT = object()


@dataclass(frozen=True)
class Examples:
    """Labelled texts read from one file, in file order."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    source: str  # the path as the user gave it
    rows: tuple[int, ...]  # each example's row in the file, 1 = the first data row

    def __post_init__(self) -> None:
        if not len(self.texts) == len(self.labels) == len(self.rows):
            raise ValueError("texts, labels and rows must have the same length")

    def __len__(self) -> int:
        return len(self.texts)

    def label_counts(self) -> dict[str, int]:
        """Return how many examples each label has, sorted by label."""
        return dict(sorted(Counter(self.labels).items()))

    def subset(self, indices: Sequence[int]) -> Examples:
        """Return the examples at ``indices`` (positions, not rows), in that order."""
        return Examples(
            texts=tuple(self.texts[i] for i in indices),
            labels=tuple(self.labels[i] for i in indices),
            source=self.source,
            rows=tuple(self.rows[i] for i in indices),
        )


@dataclass(frozen=True)
class _Table:
    """A file's cells before validation: column names, and (row, cells) in file order."""

    columns: tuple[str, ...]
    records: list[tuple[int, Mapping[str, object]]]


def read_examples(
    path: str | Path, text_column: str = "text", label_column: str = "label"
) -> Examples:
    """Return the labelled examples in ``path``; raise ``DataError`` at the first problem."""
    source = str(path)
    suffix = _check_path(Path(path), source)
    if text_column == label_column:
        raise DataError(
            f"the text and the label column are both {text_column!r}",
            fix="name two different columns, one for the texts and one for the labels",
            file=source,
        )
    return _to_examples(_read_table(Path(path), source, suffix, text_column), source, text_column, label_column)


@dataclass(frozen=True)
class Texts:
    """Texts to predict, read from one file, with their labels when the file has a label column."""

    texts: tuple[str, ...]
    labels: tuple[str, ...] | None
    source: str
    rows: tuple[int, ...]


def read_texts(path: str | Path, text_column: str = "text", label_column: str = "label") -> Texts:
    """Return the texts in ``path``, and their labels if it has ``label_column``; raise ``DataError`` at the first problem.

    Texts are read and checked as ``read_examples`` reads them, so a model sees the same
    strings at prediction time as it saw in training.
    """
    source = str(path)
    table = _read_table(Path(path), source, _check_path(Path(path), source), text_column, "add the texts to label to it, one a row")
    if label_column in table.columns and label_column != text_column:
        examples = _to_examples(table, source, text_column, label_column)
        return Texts(examples.texts, examples.labels, source, examples.rows)
    if not table.records:
        raise DataError("the file has no data rows", fix="add one text per row", file=source)
    _require_column(table.columns, text_column, "text", source)
    texts = tuple(_text(cells.get(text_column, _ABSENT), source, row, text_column) for row, cells in table.records)
    return Texts(texts, None, source, tuple(row for row, _ in table.records))


def _read_table(path: Path, source: str, suffix: str, text_column: str, wanted: str = "add the labelled examples to it") -> _Table:
    """Return the cells of a data file whose suffix ``_check_path`` accepted; `wanted` is the fix for an empty one."""
    if suffix == ".parquet":
        return _read_parquet(path, source, text_column)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot be read ({error.strerror})",
                        fix="check the file's permissions", file=source) from None
    return _read_text_file(data, source, suffix, wanted)


def _check_path(path: Path, source: str) -> str:
    """Return the file's lower-case suffix once the path is known to be a readable regular file.

    Anything else is refused before it is opened: a FIFO or a device (say a link to
    /dev/zero named data.csv) would hang or never end, and a link that loops is not "not found".
    """
    try:
        info = path.stat()
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise DataError("is a symbolic link that loops back to itself", file=source,
                            fix="point the link at the data file, or pass the file's own path") from None
        if path.is_symlink():
            raise DataError(f"is a symbolic link to {os.readlink(path)!r}, which does not exist", file=source,
                            fix="point the link at the data file, or pass the file's own path") from None
        if error.errno != errno.ENOENT:
            raise DataError(f"cannot be read ({error.strerror})", file=source,
                            fix="check the path and the folders' permissions") from None
        nearby = [p.name for p in path.parent.iterdir() if p.name != path.name] if path.parent.is_dir() else []
        close = difflib.get_close_matches(path.name, nearby, n=1)
        fix = "check the path and the working folder"
        if close:
            fix = f"Did you mean {str(path.parent / close[0])!r}? If not, {fix}"
        raise DataError("file not found", fix=fix, file=source) from None
    if stat.S_ISDIR(info.st_mode):
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES)
        hint = f"one of its data files: {', '.join(inside[:5])}" if inside else "a data file"
        raise DataError("is a folder, not a file", fix=f"give the path to {hint}", file=source)
    if not stat.S_ISREG(info.st_mode):
        kinds = {stat.S_ISFIFO: "a FIFO (named pipe)", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device",
                 stat.S_ISSOCK: "a socket"}
        kind = next((name for test, name in kinds.items() if test(info.st_mode)), "not a regular file")
        raise DataError(f"is {kind}, not a regular file", file=source,
                        fix="save the data to a file (CSV, TSV, JSONL, JSON or Parquet) and pass its path")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"unsupported file type {suffix or '(no suffix)'!r}",
            fix=f"save the data as one of {', '.join(SUPPORTED_SUFFIXES)}",
            file=source,
        )
    return suffix


def _read_text_file(data: bytes, source: str, suffix: str, wanted: str = "add the labelled examples to it") -> _Table:
    """Return the cells of a CSV, TSV, JSONL or JSON file held in ``data``."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError("the file is UTF-16 encoded", fix="re-save it as UTF-8", file=source)
    # surrogateescape keeps undecodable bytes as marker characters, so that a CSV can be
    # parsed first and the bad byte then reported at its row and column.
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    if not text.strip():
        raise DataError("the file is empty", fix=wanted, file=source)
    if suffix in (".csv", ".tsv"):
        return _read_delimited(text, data, source, "\t" if suffix == ".tsv" else ",")
    offset = _first_unreadable_byte(data)
    if offset is not None:
        line = data.count(b"\n", 0, offset) + 1
        if suffix == ".json":
            raise _unreadable_byte_error(data, offset, source, where=f" (line {line})")
        raise _unreadable_byte_error(data, offset, source, row=line)
    return _read_json(text, source) if suffix == ".json" else _read_jsonl(text, source)


def _first_unreadable_byte(data: bytes) -> int | None:
    """Return the offset of the first NUL or non-UTF-8 byte, or None if there is none."""
    offsets = [data.find(b"\x00")]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        offsets.append(error.start)
    found = [offset for offset in offsets if offset >= 0]
    return min(found) if found else None


def _unreadable_byte_error(
    data: bytes, offset: int, source: str, *, where: str = "", row: int | None = None,
    column: str | None = None,
) -> DataError:
    """Return the error for the NUL or non-UTF-8 byte at ``offset``."""
    if data[offset] == 0:
        # Text saved as UTF-16 without a byte-order mark is half NUL bytes.
        looks_utf16 = data.count(b"\x00") > len(data) // 4
        return DataError(
            f"NUL byte (0x00) at byte offset {offset}{where}",
            fix="re-save the file as UTF-8 text (it looks like UTF-16)" if looks_utf16
            else "remove the NUL characters; the file may be binary or partly corrupted",
            file=source, row=row, column=column,
        )
    return DataError(
        f"byte 0x{data[offset]:02X} at byte offset {offset}{where} is not UTF-8",
        fix="re-save the file as UTF-8 (it is probably Latin-1 or Windows-1252; "
        "in Excel choose 'CSV UTF-8')",
        file=source, row=row, column=column,
    )


@contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    """Yield with the csv module's per-cell limit raised to ``limit``, then restore it."""
    # The default limit (131,072 characters) would stop a long cell with a parser error; we
    # raise it for this one read, and put it back, so we can report the cell's real length.
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _read_delimited(text: str, data: bytes, source: str, delimiter: str) -> _Table:
    """Return the cells of a CSV or TSV file, checking bytes, delimiter and header."""
    lines: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    with _csv_field_limit(2**31 - 1):
        try:
            for cells in reader:
                lines.append(cells)
        except csv.Error as error:
            raise DataError(
                f"cannot be parsed ({error})",
                fix='close every quoted cell with a ", and double any " inside a quoted cell',
                file=source, row=len(lines) or None,
            ) from None
    while lines and not any(cell.strip() for cell in lines[0]):
        del lines[0]  # blank lines above the header
    header = [name.strip() for name in lines[0]]
    _check_delimited_bytes(data, source, header, lines)
    _check_header(header, source, delimiter)
    records: list[tuple[int, Mapping[str, object]]] = []
    for row, cells in enumerate(lines[1:], start=1):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line: counted, so later rows keep the numbers a user sees
        extra = [cell for cell in cells[len(header):] if cell.strip()]
        if extra:
            raise DataError(
                f"the row has {len(cells)} cells but the header has {len(header)} columns",
                fix=f"put quotes around any cell that holds a {_DELIMITER_NAMES[delimiter]}",
                file=source, row=row,
            )
        records.append((row, dict(zip(header, cells))))
    return _Table(tuple(header), records)


def _check_delimited_bytes(
    data: bytes, source: str, header: list[str], lines: list[list[str]]
) -> None:
    """Return None, or raise for the first NUL or non-UTF-8 byte, naming its row and column."""
    offset = _first_unreadable_byte(data)
    if offset is None:
        return
    for row, cells in enumerate(lines):
        for index, cell in enumerate(cells):
            if _UNREADABLE_CHARACTER.search(cell):
                # a header cell with a bad byte is no name worth quoting
                column = header[index] if 0 < row and index < len(header) else None
                where = " (in the header)" if row == 0 else ""
                raise _unreadable_byte_error(
                    data, offset, source, where=where, row=row or None, column=column
                )
    line = data.count(b"\n", 0, offset) + 1
    raise _unreadable_byte_error(data, offset, source, where=f" (line {line})")


def _check_header(header: list[str], source: str, delimiter: str) -> None:
    """Return None, or raise if the header shows a wrong delimiter or a repeated name."""
    if len(header) == 1:
        for other, name in _DELIMITER_NAMES.items():
            if other != delimiter and other in header[0]:
                fix = {
                    "\t": "rename the file to .tsv",
                    ",": "rename the file to .csv",
                }.get(other, f"re-save it with {_DELIMITER_NAMES[delimiter]}s between cells")
                raise DataError(
                    f"the header {header[0]!r} is one column: the cells look separated by "
                    f"{name}s, not {_DELIMITER_NAMES[delimiter]}s",
                    fix=fix, file=source,
                )
    repeated = [name for name, count in Counter(header).items() if name and count > 1]
    if repeated:
        raise DataError(
            f"the header names this column {Counter(header)[repeated[0]]} times",
            fix="rename the columns so that each name is used once",
            file=source, column=repeated[0],
        )


def _read_jsonl(text: str, source: str) -> _Table:
    """Return the cells of a JSON Lines file: one object per line."""
    records: list[tuple[int, Mapping[str, object]]] = []
    # split on "\n" only: str.splitlines() would also split inside texts at \u2028 and \x0c
    for row, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            looks_like_list = row == 1 and line.lstrip().startswith("[")
            fix = ("the file looks like one JSON list: rename it to .json" if looks_like_list
                   else "write one complete JSON object per line; a record must not span lines")
            raise DataError(
                f"the line is not valid JSON ({error.msg} at character {error.colno})",
                fix=fix, file=source, row=row,
            ) from None
        if not isinstance(value, dict):
            raise DataError(
                f"the line holds {_describe(value)}, not a JSON object",
                fix='write one object per line, e.g. {"text": "...", "label": "..."}',
                file=source, row=row,
            )
        records.append((row, value))
    return _Table(_columns_in_order(records), records)


def _read_json(text: str, source: str) -> _Table:
    """Return the cells of a JSON file that holds a list of objects."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        fix = ("it holds one JSON value per line: rename the file to .jsonl"
               if error.msg == "Extra data" else "correct the JSON there")
        raise DataError(
            f"not valid JSON: {error.msg} at line {error.lineno}, character {error.colno}",
            fix=fix, file=source,
        ) from None
    if isinstance(value, dict):
        lists = [key for key, item in value.items() if isinstance(item, list)]
        hint = f"; the records may be the list under {lists[0]!r}" if len(lists) == 1 else ""
        raise DataError(
            "the file holds a JSON object, not a list of records",
            fix=f'make the top level a list: [{{"text": "...", "label": "..."}}, ...]{hint}',
            file=source,
        )
    if not isinstance(value, list):
        raise DataError(
            f"the file holds {_describe(value)}, not a list of records",
            fix='make the top level a list: [{"text": "...", "label": "..."}, ...]',
            file=source,
        )
    for row, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise DataError(
                f"the item holds {_describe(item)}, not a JSON object",
                fix='make every item an object, e.g. {"text": "...", "label": "..."}',
                file=source, row=row,
            )
    records = list(enumerate(value, start=1))
    return _Table(_columns_in_order(records), records)


def _read_parquet(path: Path, source: str, text_column: str) -> _Table:
    """Return the cells of a Parquet file, checking that the text column holds strings."""
    import pyarrow as pa  # heavy: imported only when a Parquet file is read
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise DataError(
            f"not a readable Parquet file ({reason})",
            fix="re-save it with pandas DataFrame.to_parquet, or as CSV or JSONL",
            file=source,
        ) from None
    names = tuple(table.column_names)
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        raise DataError(
            "the file has more than one column with this name",
            fix="rename the columns so that each name is used once",
            file=source, column=repeated[0],
        )
    if text_column in names:
        kind = table.schema.field(text_column).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type  # a pandas categorical column
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise DataError(
                f"the text column holds {kind} values, not strings",
                fix=f"convert it before saving, e.g. df[{text_column!r}] = "
                f"df[{text_column!r}].astype(str)",
                file=source, column=text_column,
            )
    values = {name: table.column(name).to_pylist() for name in names}
    records = [
        (index + 1, {name: column[index] for name, column in values.items()})
        for index in range(table.num_rows)
    ]
    return _Table(names, records)


def _columns_in_order(records: list[tuple[int, Mapping[str, object]]]) -> tuple[str, ...]:
    """Return every key used by the records, in the order they first appear."""
    return tuple(dict.fromkeys(key for _, cells in records for key in cells))


def _to_examples(table: _Table, source: str, text_column: str, label_column: str) -> Examples:
    """Return the table's examples after checking its columns and every text and label."""
    if not table.records:
        raise DataError("the file has no data rows", fix="add one example per row", file=source)
    for role, column in (("text", text_column), ("label", label_column)):
        _require_column(table.columns, column, role, source)
    texts, labels, rows = [], [], []
    for row, cells in table.records:
        texts.append(_text(cells.get(text_column, _ABSENT), source, row, text_column))
        labels.append(_label(cells.get(label_column, _ABSENT), source, row, label_column))
        rows.append(row)
    return Examples(tuple(texts), tuple(labels), source, tuple(rows))


def _require_column(columns: Sequence[str], column: str, role: str, source: str) -> None:
    """Return None if ``column`` is one of ``columns``; else raise with a did-you-mean."""
    if column in columns:
        return
    same_but_case = [name for name in columns if name.casefold() == column.casefold()]
    close = same_but_case or difflib.get_close_matches(column, columns, n=1)
    listed = ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")
    fix = (f"Did you mean {close[0]!r}? Available: {listed}" if close
           else f"name the {role} column; available: {listed}")
    raise DataError(f"the {role} column was not found", fix=fix, file=source, column=column)


def _text(value: object, source: str, row: int, column: str) -> str:
    """Return the stripped text in a cell, or raise if it is missing, empty or not a string."""
    if value is _ABSENT or value is None:
        raise DataError(f"the text is missing ({_missing(value)})",
                        fix="give every row a text, or remove the row",
                        file=source, row=row, column=column)
    if not isinstance(value, str):
        raise DataError(
            "the text is not a string",
            fix=f"store every text as a string; this one is {_describe(value)}",
            file=source, row=row, column=column,
        )
    _check_length(value, source, row, column)
    if not value.strip():
        problem = "the text cell is empty" if not value else "the text is only whitespace"
        raise DataError(problem, fix="fill in the text, or remove the row",
                        file=source, row=row, column=column)
    return value.strip()


def _label(value: object, source: str, row: int, column: str) -> str:
    """Return a cell's label as a stripped string, or raise if it is missing or unusable."""
    blank = isinstance(value, str) and not value.strip()
    nan = isinstance(value, float) and math.isnan(value)  # how pandas writes a missing cell
    if value is _ABSENT or value is None or blank or nan:
        raise DataError(f"the label is missing ({_missing(value)})",
                        fix="give every row a label, or remove the row",
                        file=source, row=row, column=column)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DataError(
            f"the label is {_describe(value)}, not a string or a number",
            fix='write each label as a string, e.g. "yes" or "no"',
            file=source, row=row, column=column,
        )
    if isinstance(value, float):
        if math.isinf(value):
            raise DataError("the label is infinite", fix="give the row a real label",
                            file=source, row=row, column=column)
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    _check_length(value, source, row, column)
    return value.strip()


def _check_length(cell: str, source: str, row: int, column: str) -> None:
    """Return None, or raise if ``cell`` is longer than ``MAX_CELL_CHARS`` characters."""
    if len(cell) > MAX_CELL_CHARS:
        raise DataError(
            f"the cell holds {len(cell):,} characters, more than the {MAX_CELL_CHARS:,} allowed",
            fix="truncate or split that text (models read only the first few thousand "
            "characters anyway)",
            file=source, row=row, column=column,
        )


def _missing(value: object) -> str:
    """Return how a missing cell was written, e.g. ``null`` or ``empty cell``."""
    if value is _ABSENT:
        return "no such cell or key in this row"
    if value is None:
        return "null"
    return "NaN" if isinstance(value, float) else "empty cell"


def _describe(value: object) -> str:
    """Return the JSON kind of ``value`` in words, e.g. ``a number (42)`` or ``a list``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"
