"""Reading every supported format into ``Examples``, and the whole-set checks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from shouldtune.data import (
    Examples,
    check_labels,
    check_test_labels,
    duplicate_warnings,
    overlap_warnings,
    read_examples,
)
from shouldtune.errors import DataError

RECORDS = [{"text": "free money now", "label": "spam"}, {"text": "see you at noon", "label": "ham"}]


def _examples(pairs: list[tuple[str, str]], source: str = "train.csv") -> Examples:
    return Examples(
        texts=tuple(text for text, _ in pairs),
        labels=tuple(label for _, label in pairs),
        source=source,
        rows=tuple(range(1, len(pairs) + 1)),
    )


# --- formats ---------------------------------------------------------------------------


def test_csv(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text('text,label\nfree money now,spam\n"see you, at noon",ham\n')
    examples = read_examples(path)
    assert examples.texts == ("free money now", "see you, at noon")
    assert examples.labels == ("spam", "ham")
    assert examples.rows == (1, 2)
    assert examples.source == str(path)


def test_tsv(tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_text("text\tlabel\nfree, money\tspam\nsee you\tham\n")
    assert read_examples(path).texts == ("free, money", "see you")


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_json_lines_rows_are_line_numbers(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"train{suffix}"
    path.write_text(json.dumps(RECORDS[0]) + "\n\n" + json.dumps(RECORDS[1]) + "\n\n")
    examples = read_examples(path)
    assert examples.labels == ("spam", "ham")
    assert examples.rows == (1, 3)


def test_json_lines_keep_unicode_line_separators_inside_texts(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"text": "a\u2028b\x0cc", "label": "x"}, ensure_ascii=False))
    assert read_examples(path).texts == ("a\u2028b\x0cc",)


def test_json_list(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    path.write_text(json.dumps(RECORDS, indent=2))
    examples = read_examples(path)
    assert examples.texts == ("free money now", "see you at noon")
    assert examples.rows == (1, 2)


def test_parquet(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "train.parquet"
    frame = pd.DataFrame({"text": ["free money now", "see you"], "label": [1, 0]})
    frame["text"] = frame["text"].astype("category")  # dictionary-encoded strings
    frame.to_parquet(path)
    examples = read_examples(path)
    assert examples.texts == ("free money now", "see you")
    assert examples.labels == ("1", "0")
    assert examples.rows == (1, 2)


def test_suffix_is_case_insensitive_and_path_may_be_a_string(tmp_path: Path) -> None:
    path = tmp_path / "TRAIN.CSV"
    path.write_text("text,label\nhi,a\n")
    assert read_examples(str(path)).source == str(path)


# --- columns and cells -----------------------------------------------------------------


def test_column_options_pick_columns_and_ignore_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("id,sentence,y,notes\n7,free money,spam,\n8,see you,ham,late\n")
    examples = read_examples(path, text_column="sentence", label_column="y")
    assert examples.texts == ("free money", "see you")
    assert examples.labels == ("spam", "ham")


def test_same_text_and_label_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("text,label\nhi,a\n")
    with pytest.raises(DataError, match="both 'text'"):
        read_examples(path, text_column="text", label_column="text")


def test_texts_and_labels_are_stripped(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "  free money \\n", "label": " spam\\t"}\n')
    examples = read_examples(path)
    assert (examples.texts, examples.labels) == (("free money",), ("spam",))


def test_csv_cells_that_look_missing_are_text(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("text,label\nNA,None\nNone,NaN\nnull,1.0\n")
    examples = read_examples(path)
    assert examples.texts == ("NA", "None", "null")
    assert examples.labels == ("None", "NaN", "1.0")  # CSV cells are kept as written


def test_numeric_json_labels_become_strings(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    lines = [{"text": "a", "label": 1}, {"text": "b", "label": 1.0}, {"text": "c", "label": 0.5},
             {"text": "d", "label": -2}]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    assert read_examples(path).labels == ("1", "1", "0.5", "-2")


def test_parquet_whole_float_labels_become_integers(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "label": [1.0, 0.0]}), path)
    assert read_examples(path).labels == ("1", "0")


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_bytes("text,label\ncafé,a\n".encode("utf-8-sig"))
    assert read_examples(path).texts == ("café",)


def test_windows_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_bytes(b"text,label\r\nfree money,spam\r\nsee you,ham\r\n")
    examples = read_examples(path)
    assert (examples.texts, examples.labels) == (("free money", "see you"), ("spam", "ham"))


def test_csv_rows_count_records_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text('\ntext,label\n"two\nlines",a\n\nthird,b\n,\nfifth,c,\n')
    examples = read_examples(path)
    assert examples.texts == ("two\nlines", "third", "fifth")
    assert examples.rows == (1, 3, 5)  # blank rows 2 and 4 are skipped but counted


def test_cell_longer_than_csvs_default_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("text,label\n" + "x" * 200_000 + ",a\n")
    limit_before = csv.field_size_limit()
    assert len(read_examples(path).texts[0]) == 200_000
    assert csv.field_size_limit() == limit_before


# --- Examples --------------------------------------------------------------------------


def test_len_label_counts_and_subset() -> None:
    examples = _examples([("a", "spam"), ("b", "ham"), ("c", "spam"), ("d", "eggs")])
    assert len(examples) == 4
    assert examples.label_counts() == {"eggs": 1, "ham": 1, "spam": 2}
    assert list(examples.label_counts()) == ["eggs", "ham", "spam"]
    subset = examples.subset([3, 0])
    assert (subset.texts, subset.labels, subset.rows) == (("d", "a"), ("eggs", "spam"), (4, 1))
    assert subset.source == "train.csv"


def test_examples_parts_must_match_in_length() -> None:
    with pytest.raises(ValueError):
        Examples(texts=("a",), labels=(), source="x.csv", rows=(1,))


# --- check_labels ----------------------------------------------------------------------


def test_check_labels_accepts_two_labels_with_enough_examples() -> None:
    check_labels(_examples([("a", "x"), ("b", "y"), ("c", "x"), ("d", "y")]))


def test_check_labels_min_per_label_names_label_count_and_first_row() -> None:
    examples = _examples([("a", "x"), ("b", "y"), ("c", "x"), ("d", "y"), ("e", "x")])
    with pytest.raises(DataError, match=r"row 2: label 'y' has 2 examples, fewer than the 3"):
        check_labels(examples, min_per_label=3)


def test_check_labels_catches_surrounding_space_in_hand_built_examples() -> None:
    examples = _examples([("a", "x"), ("b", "x "), ("c", "x"), ("d", "x ")])
    with pytest.raises(DataError, match=r"'x' \(row 1\) and 'x ' \(row 2\)"):
        check_labels(examples)


# --- warnings --------------------------------------------------------------------------


def test_duplicate_warnings_count_repeats_and_conflicts_apart() -> None:
    examples = _examples([
        ("a", "x"), ("b", "y"), ("a", "x"), ("c", "x"), ("a", "x"),  # 'a' twice more as x
        ("c", "y"), ("b", "y"), ("d", "x"), ("c", "y"),  # 'c' conflicts; repeats of b, c/y
    ])
    assert duplicate_warnings(examples) == [
        "train.csv: 4 duplicate texts (first at rows 1 and 3)",
        "train.csv: 1 text appears with conflicting labels (first at rows 4 and 6: 'x' and 'y')",
    ]


def test_duplicate_warnings_empty_when_texts_are_unique() -> None:
    assert duplicate_warnings(_examples([("a", "x"), ("b", "x")])) == []


def test_overlap_warnings_count_distinct_shared_texts() -> None:
    train = _examples([("a", "x"), ("b", "y"), ("c", "x"), ("a", "x")], "train.jsonl")
    test = _examples([("z", "x"), ("c", "x"), ("a", "y"), ("c", "x")], "test.jsonl")
    assert overlap_warnings(train, test) == [
        "2 texts appear in both train.jsonl and test.jsonl (first: row 3 of train, row 2 of test)"
    ]
    assert overlap_warnings(train, _examples([("q", "x")], "test.jsonl")) == []


def test_check_test_labels_passes_when_test_labels_are_known() -> None:
    check_test_labels(_examples([("a", "x"), ("b", "y")]), _examples([("c", "y")], "test.csv"))


def test_check_test_labels_names_unseen_labels_and_first_row() -> None:
    train = _examples([("a", "spam"), ("b", "ham")])
    test = _examples([("c", "ham"), ("d", "Spam"), ("e", "eggs")], "test.csv")
    with pytest.raises(DataError) as caught:
        check_test_labels(train, test)
    message = str(caught.value)
    assert message.startswith("test.csv, row 2: label 'Spam' is not in the training file train.csv")
    assert "nor are 'eggs'" in message
    assert "Did you mean 'spam'?" in message


def test_holdout_overlap_is_counted():
    from shouldtune.data.checks import holdout_overlap_warnings
    from shouldtune.data.load import Examples

    pool = Examples(("a", "b", "c"), ("x", "y", "x"), "all.jsonl", (1, 2, 4))
    test = Examples(("c", "d", "a"), ("x", "y", "x"), "all.jsonl", (3, 5, 6))
    assert holdout_overlap_warnings(pool, test) == [
        "2 held-out test texts also stand in the training pool (duplicates in all.jsonl; first: rows 4 and 3); "
        "deduplicate the file for a clean hold-out"
    ]
    assert holdout_overlap_warnings(pool, Examples(("z",), ("x",), "all.jsonl", (9,))) == []
