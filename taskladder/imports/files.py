"""Reading a table file as it is: CSV, TSV, parquet or JSONL, every row labelled by where it is in the file
(for error messages)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from taskladder.base.metrics_table import InputError


@dataclass
class Rows:
    """Where a table's rows come from, for error messages: `label(i)` names row i (its index label)."""

    path: Path
    kind: str = "row"  # row (CSV, TSV, parquet) or line (JSONL)
    offset: int = 2  # CSV: the header is row 1, the first data row is row 2
    files: dict | None = None  # lm-eval: index -> results file

    def label(self, index) -> str:
        return self.files[index] if self.files else f"{self.kind} {index + self.offset}"

    def labels(self, indices) -> str:
        if self.files:
            return ", ".join(self.files[i] for i in indices)
        return f"{self.kind}s {[int(i) + self.offset for i in indices]}"


def read_table(path: str | Path, fmt: str) -> tuple[pd.DataFrame, Rows]:
    """A CSV, TSV, parquet or JSONL file as a frame (CSV cells as strings), index = position in the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    if fmt in ("csv", "tsv"):
        try:
            raw = pd.read_csv(path, sep="," if fmt == "csv" else "\t", dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise InputError(f"{path}: empty file (no header, no rows)") from None
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); expected a UTF-8 "
                             f"{fmt.upper()} file") from None
        except pd.errors.ParserError as e:
            raise InputError(f"{path}: not a readable {fmt.upper()} file ({e})") from None
        rows = Rows(path)
    elif fmt == "parquet":
        try:
            raw = pd.read_parquet(path)
        except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds for a bad file
            raise InputError(f"{path}: not a readable parquet file ({e})") from None
        rows = Rows(path, offset=1)
    elif fmt == "jsonl":
        records, index = [], []
        for i, line in enumerate(path.read_text().splitlines()):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(f"{path}: line {i + 1}: not JSON ({e.msg})") from None
                if not isinstance(record, dict):
                    raise InputError(f"{path}: line {i + 1}: expected a JSON object, found {line[:60]!r}")
                records.append(record)
                index.append(i)
        if not records:
            raise InputError(f"{path}: empty file (no JSON lines)")
        raw = pd.DataFrame.from_records(records, index=index)
        rows = Rows(path, kind="line", offset=1)
    else:
        raise ValueError(f"unknown table format {fmt!r}")
    if raw.empty:
        raise InputError(f"{path}: no rows after the header")
    raw.columns = [str(c) for c in raw.columns]
    return raw, rows
