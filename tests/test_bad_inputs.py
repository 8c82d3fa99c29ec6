"""Every malformed input in tests/bad_inputs (and a few built here) fails with one clear line.

Each case names the substrings its message must hold, so that a message which stops saying
where the problem is, or what it is, fails the test.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from shouldtune.data import check_labels, read_examples
from shouldtune.errors import DataError

BAD_INPUTS = Path(__file__).parent / "bad_inputs"

# file in tests/bad_inputs -> what its error message must contain
COMMITTED: dict[str, list[str]] = {
    "empty.csv": ["the file is empty"],
    "blank_lines_only.jsonl": ["the file is empty"],
    "header_only.csv": ["no data rows"],
    "json_empty_list.json": ["no data rows"],
    "semicolon_delimiter.csv": ["separated by semicolons", "re-save it with commas"],
    "tabs_in_csv.csv": ["separated by tabs", "rename the file to .tsv"],
    "commas_in_tsv.tsv": ["separated by commas", "rename the file to .csv"],
    "empty_label_cell.csv": ["row 2", "column 'label'", "label is missing (empty cell)"],
    "json_null_label.json": ["row 2", "column 'label'", "label is missing (null)"],
    "json_nan_label.json": ["row 2", "column 'label'", "label is missing (NaN)"],
    "jsonl_missing_label_key.jsonl": ["row 2", "column 'label'", "label is missing"],
    "jsonl_bool_label.jsonl": ["row 1", "column 'label'", "a boolean (true)"],
    "jsonl_numeric_text.jsonl": ["row 3", "column 'text'", "not a string", "a number (42)"],
    "json_list_text.json": ["row 2", "column 'text'", "not a string", "this one is a list"],
    "labels_differ_by_case.csv": ["'spam' (row 1)", "'Spam' (row 3)", "differ only by case"],
    "labels_differ_by_case_and_space.jsonl": ["'spam' (row 1)", "'SPAM' (row 3)", "normalise"],
    "one_class.csv": ["only one label, 'spam'"],
    "class_with_one_example.csv": ["row 5", "label 'support' has 1 example"],
    "duplicate_columns.csv": ["column 'text'", "names this column 2 times"],
    "jsonl_broken_line.jsonl": ["row 3", "not valid JSON"],
    "jsonl_array_line.jsonl": ["row 2", "holds a list, not a JSON object"],
    "jsonl_string_line.jsonl": ["row 2", "holds a string, not a JSON object"],
    "missing_text_column.csv": ["column 'text'", "Did you mean 'txt'?", "Available: txt, label"],
    "missing_label_column.jsonl": ["column 'label'", "Did you mean 'labels'?"],
    "unsupported_suffix.txt": ["unsupported file type '.txt'", ".csv, .tsv, .jsonl"],
    "whitespace_text.csv": ["row 2", "column 'text'", "only whitespace"],
    "empty_text_cell.tsv": ["row 2", "column 'text'", "text cell is empty"],
    "json_object_not_list.json": ["a JSON object, not a list", "under 'data'"],
    "json_invalid.json": ["not valid JSON", "line 3"],
    "jsonl_named_json.json": ["line 2", "rename the file to .jsonl"],
    "ragged_row.csv": ["row 2", "3 cells but the header has 2 columns", "quotes"],
    "unclosed_quote.csv": ["row 2", "cannot be parsed", "close every quoted cell"],
    "not_really.parquet": ["not a readable Parquet file"],
}


def _huge_cell(folder: Path) -> Path:
    path = folder / "huge_cell.csv"
    path.write_text("text,label\nfree money now,spam\n" + "x" * 5_000_000 + ",ham\n")
    return path


def _nul_bytes_csv(folder: Path) -> Path:
    path = folder / "nul_bytes.csv"
    path.write_bytes(b"text,label\nfree money now,spam\nsee you\x00 at noon,ham\n")
    return path


def _nul_bytes_jsonl(folder: Path) -> Path:
    path = folder / "nul_bytes.jsonl"
    path.write_bytes(b'{"text": "free", "label": "spam"}\n{"text": "see\x00", "label": "ham"}\n')
    return path


def _latin1_csv(folder: Path) -> Path:
    path = folder / "latin1.csv"
    path.write_bytes("text,label\ncafé gratuit,spam\nà midi,ham\n".encode("latin-1"))
    return path


def _mixed_encoding_csv(folder: Path) -> Path:
    path = folder / "mixed_encoding.csv"
    utf8 = "text,label\ncafé gratuit,spam\n\"two\nlines\",ham\n".encode()
    path.write_bytes(utf8 + "café,spam\n".encode("latin-1"))  # data row 3
    return path


def _mixed_encoding_jsonl(folder: Path) -> Path:
    path = folder / "mixed_encoding.jsonl"
    path.write_bytes('{"text": "café", "label": "a"}\n'.encode()
                     + '{"text": "café", "label": "b"}\n'.encode("latin-1"))
    return path


def _latin1_json(folder: Path) -> Path:
    path = folder / "latin1.json"
    path.write_bytes('[\n{"text": "ok", "label": "a"},\n{"text": "café", "label": "b"}\n]'
                     .encode("latin-1"))
    return path


def _utf16_csv(folder: Path) -> Path:
    path = folder / "utf16.csv"
    path.write_bytes("text,label\nfree money now,spam\n".encode("utf-16"))  # with a BOM
    return path


def _utf16_without_bom_csv(folder: Path) -> Path:
    path = folder / "utf16_without_bom.csv"
    path.write_bytes("text,label\nfree money now,spam\n".encode("utf-16-le"))
    return path


def _write_parquet(path: Path, columns: dict[str, list[object]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


def _parquet_int_text(folder: Path) -> Path:
    return _write_parquet(folder / "int_text.parquet", {"text": [1, 2], "label": ["a", "b"]})


def _parquet_none_label(folder: Path) -> Path:
    return _write_parquet(folder / "none_label.parquet",
                          {"text": ["free", "lunch?", "win"], "label": ["spam", None, "spam"]})


def _parquet_nan_label(folder: Path) -> Path:
    return _write_parquet(folder / "nan_label.parquet",
                          {"text": ["free", "lunch?", "win"], "label": [1.0, 0.0, float("nan")]})


def _parquet_list_text(folder: Path) -> Path:
    return _write_parquet(folder / "list_text.parquet",
                          {"text": [["free"], ["lunch"]], "label": ["spam", "ham"]})


def _folder(folder: Path) -> Path:
    path = folder / "data_folder"
    path.mkdir()
    (path / "train.csv").write_text("text,label\nhi,a\n")
    return path


def _missing_file(folder: Path) -> Path:
    return folder / "no_such_file.csv"


def _misspelled_file(folder: Path) -> Path:
    (folder / "train.csv").write_text("text,label\nhi,a\n")
    return folder / "trian.csv"


def _symlink_loop(folder: Path) -> Path:
    (folder / "a.csv").symlink_to("b.csv")
    (folder / "b.csv").symlink_to("a.csv")
    return folder / "a.csv"


def _dangling_link(folder: Path) -> Path:
    (folder / "data.csv").symlink_to("moved.csv")
    return folder / "data.csv"


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "pipe.csv")  # opening it to read would wait for a writer forever
    return folder / "pipe.csv"


def _device(folder: Path) -> Path:
    (folder / "zero.csv").symlink_to("/dev/zero")  # reading it would never end
    return folder / "zero.csv"


# builder of a file too big or too binary to commit -> what its error message must contain
GENERATED: dict[Callable[[Path], Path], list[str]] = {
    _huge_cell: ["row 2", "column 'text'", "5,000,000 characters", "truncate"],
    _nul_bytes_csv: ["row 2", "column 'text'", "NUL byte"],
    _nul_bytes_jsonl: ["row 2", "NUL byte"],
    _latin1_csv: ["row 1", "column 'text'", "0xE9", "re-save the file as UTF-8"],
    _mixed_encoding_csv: ["row 3", "column 'text'", "0xE9", "not UTF-8"],
    _mixed_encoding_jsonl: ["row 2", "0xE9", "not UTF-8"],
    _latin1_json: ["line 3", "not UTF-8"],
    _utf16_csv: ["UTF-16", "re-save it as UTF-8"],
    _utf16_without_bom_csv: ["NUL byte", "it looks like UTF-16"],
    _parquet_int_text: ["column 'text'", "int64 values, not strings", "astype(str)"],
    _parquet_none_label: ["row 2", "column 'label'", "label is missing (null)"],
    _parquet_nan_label: ["row 3", "column 'label'", "label is missing (NaN)"],
    _parquet_list_text: ["column 'text'", "not strings"],
    _folder: ["is a folder", "train.csv"],
    _missing_file: ["file not found"],
    _misspelled_file: ["file not found", "Did you mean", "train.csv"],
    _symlink_loop: ["symbolic link that loops"],
    _dangling_link: ["symbolic link to 'moved.csv', which does not exist"],
    _fifo: ["is a FIFO (named pipe), not a regular file"],
    _device: ["is a character device, not a regular file"],
}


def _assert_one_clear_line(path: Path, expected: list[str]) -> None:
    with pytest.raises(DataError) as caught:
        check_labels(read_examples(path))
    message = str(caught.value)
    assert "\n" not in message
    assert path.name in message
    assert "Fix:" in message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_committed_bad_input_fails_with_one_clear_line(name: str) -> None:
    _assert_one_clear_line(BAD_INPUTS / name, COMMITTED[name])


@pytest.mark.parametrize("build", list(GENERATED), ids=lambda build: build.__name__[1:])
def test_generated_bad_input_fails_with_one_clear_line(
    build: Callable[[Path], Path], tmp_path: Path
) -> None:
    _assert_one_clear_line(build(tmp_path), GENERATED[build])


def test_every_committed_file_is_a_case_and_listed_in_cases_md() -> None:
    files = {path.name for path in BAD_INPUTS.iterdir()} - {"CASES.md"}
    assert files == set(COMMITTED)
    table = (BAD_INPUTS / "CASES.md").read_text()
    for name in [*COMMITTED, *(build.__name__[1:] for build in GENERATED)]:
        assert f"`{name}`" in table, f"{name} is not in CASES.md"


def test_committed_corpus_stays_small() -> None:
    assert sum(path.stat().st_size for path in BAD_INPUTS.iterdir()) < 100_000
