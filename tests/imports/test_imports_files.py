"""A table file read as it is, by its format, every row labelled by where it is in the file."""

import json

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
