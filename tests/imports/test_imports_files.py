"""A table file read as it is, by its format, every row labelled by where it is in the file."""

import json
import re

import pandas as pd
import pytest

from taskladder.base.metrics_table import InputError
from taskladder.imports.files import Rows, read_table


def test_every_format_gives_the_same_table(tmp_path):
    frame = pd.DataFrame({"run": ["a", "b"], "acc": [0.5, 0.25]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in frame.to_dict("records")) + "\n\n")
    for fmt in ("csv", "tsv", "parquet", "jsonl"):
        raw, rows = read_table(tmp_path / f"t.{fmt}", fmt)
        assert raw["run"].tolist() == ["a", "b"] and pd.to_numeric(raw["acc"]).tolist() == [0.5, 0.25], fmt
    assert read_table(tmp_path / "t.csv", "csv")[0]["acc"].tolist() == ["0.5", "0.25"]  # CSV cells as text


def test_rows_are_named_as_the_file_counts_them(tmp_path):
    assert Rows(tmp_path / "t.csv").label(0) == "row 2" and Rows(tmp_path / "t.csv").labels([0, 3]) == "rows [2, 5]"
    (tmp_path / "t.jsonl").write_text('{"run": "a"}\n\n{"run": "b"}\n')
    raw, rows = read_table(tmp_path / "t.jsonl", "jsonl")
    assert rows.label(raw.index[1]) == "line 3"  # blank lines keep their place


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_table(tmp_path / "none.csv", "csv")
    (tmp_path / "bad.jsonl").write_text('{"run": "a"}\n[1, 2]\n')
    with pytest.raises(InputError, match="bad.jsonl: line 2: expected a JSON object"):
        read_table(tmp_path / "bad.jsonl", "jsonl")
    (tmp_path / "header.csv").write_text("run,acc\n")
    with pytest.raises(InputError, match="header.csv: no rows after the header"):
        read_table(tmp_path / "header.csv", "csv")


@pytest.mark.parametrize("fmt, text, found", [
    ("csv", "run;acc\na;0.5\n", "';'"),
    ("csv", "run\tacc\na\t0.5\n", "'\\t'"),
    ("tsv", "run,acc\na,0.5\n", "','"),
])
def test_a_header_of_one_field_split_by_another_character_is_named(tmp_path, fmt, text, found):
    (tmp_path / f"t.{fmt}").write_text(text)
    message = rf"t.{fmt}: row 1 is one field that holds {re.escape(found)} \('run.+acc'\); expected a {fmt.upper()}"
    with pytest.raises(InputError, match=message + " file, its fields separated by"):
        read_table(tmp_path / f"t.{fmt}", fmt)


def test_a_row_of_other_bytes_than_utf8_and_fields_is_named_without_a_traceback(tmp_path, capsys):
    """pyarrow cannot decode such a row for its invalid-row handler, and Python prints that error's traceback."""
    (tmp_path / "t.csv").write_bytes(b"run,acc\na,0.5\ncaf\xe9,b,0.5\n")
    with pytest.raises(InputError, match=r"t.csv: not UTF-8 text \(invalid continuation byte, byte 0xe9 at byte 17, "
                                         r"line 3\); expected a UTF-8 CSV file"):
        read_table(tmp_path / "t.csv", "csv")
    assert "Traceback" not in capsys.readouterr().err


def test_a_directory_is_not_a_table(tmp_path):
    with pytest.raises(InputError, match=rf"{tmp_path}: a directory; expected a CSV file"):
        read_table(tmp_path, "csv")
