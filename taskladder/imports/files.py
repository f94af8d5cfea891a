"""Reading a table file: CSV, TSV, parquet or JSONL, only the columns asked for, every row labelled by where it is
in the file (for error messages).

Only the columns an entry reads are parsed (`read_table(..., keep=...)`): the others are never read, so what they
hold does not matter, nor whether their names repeat. A column that is read and that the header names twice is an
error. CSV and TSV cells are read as text (the importer parses the numbers, naming a cell it cannot parse; a row
with more or fewer fields than the header is an error); parquet keeps its column types, JSONL keeps JSON's (where a
number is expected, a JSON number: `taskladder.imports.values.numbers`). CSV, TSV and parquet are read by pyarrow,
in bounded memory (a 1-million-row, 200 MB table of which 20 columns are read: about 300 MB)."""

from __future__ import annotations

import codecs
import csv
import json
import re
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from taskladder.base.metrics_table import InputError


def _pool() -> pa.MemoryPool:
    """Where pyarrow reads tables to: jemalloc, set to give freed memory back at once (the default pool keeps it,
    and reading a big table would hold the parse buffers for good), else the C allocator."""
    try:
        pool = pa.jemalloc_memory_pool()
        pa.jemalloc_set_decay_ms(0)
        return pool
    except NotImplementedError:  # a pyarrow built without jemalloc
        return pa.system_memory_pool()


POOL = _pool()


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


def _selected(path: Path, names: list[str], keep: Callable[[str], bool] | None, where: str) -> list[int]:
    """The positions of the columns to read; a column read that the header names twice is an error."""
    chosen = [i for i, name in enumerate(names) if keep is None or keep(name)]
    seen: dict[str, int] = {}
    for i in chosen:
        if names[i] in seen:
            raise InputError(f"{path}: {where}, column '{names[i]}': expected each column name once, found it twice "
                             f"(columns {seen[names[i]] + 1} and {i + 1}); rename one")
        seen[names[i]] = i
    return chosen


def _utf8_error(path: Path, fmt: str) -> InputError:
    """Where the first byte that is not UTF-8 text lies (the slow path, once a read failed on it)."""
    decoder, offset, line = codecs.getincrementaldecoder("utf-8")(), 0, 1
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            buffered = decoder.getstate()[0]  # the start of a character cut by the previous chunk (no newline)
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                data = buffered + chunk
                return InputError(f"{path}: not UTF-8 text ({e.reason}, byte {data[e.start]:#04x} at byte "
                                  f"{offset - len(buffered) + e.start}, line {line + data[:e.start].count(10)}); "
                                  f"expected a UTF-8 {fmt.upper()} file")
            offset, line = offset + len(chunk), line + chunk.count(b"\n")
    return InputError(f"{path}: not UTF-8 text; expected a UTF-8 {fmt.upper()} file")


def _decoded(lines):
    """Lines of bytes as text, one at a time (a header is decoded, not the rows after it); a BOM dropped."""
    for i, line in enumerate(lines):
        yield line.decode("utf-8-sig" if i == 0 else "utf-8")


def _csv_header(path: Path, fmt: str, sep: str) -> tuple[list[str], int]:
    """The header's names, and the rows before the data (blank lines, then the header)."""
    try:
        with open(path, "rb") as f:
            reader = csv.reader(_decoded(f), delimiter=sep)
            header = next((row for row in reader if row), None)
            skip = reader.line_num
    except UnicodeDecodeError:
        raise _utf8_error(path, fmt) from None
    except csv.Error as e:
        raise InputError(f"{path}: not a readable {fmt.upper()} file ({e})") from None
    if header is None:
        raise InputError(f"{path}: empty file (no header, no rows)")
    other = next((c for c in ",;\t" if c != sep and len(header) == 1 and c in header[0]), None)
    if other is not None:  # a table of one column is never an entry's: its fields are split by another character
        raise InputError(f"{path}: row 1 is one field that holds {other!r} ({header[0][:60]!r}); expected a "
                         f"{fmt.upper()} file, its fields separated by {sep!r}")
    return header, skip


def _stream_csv(path: Path, sep: str, skip: int, names: list[str], chosen: list[int], text: set[int],
                threads: bool = True, invalid=None) -> pa.Table:
    """The chosen columns, read a block at a time (bounded memory): those in `text` as strings, the others as
    floats (pyarrow's parser: correctly rounded, as pandas')."""
    placeholders = [f"c{i}" for i in range(len(names))]
    reader = pa_csv.open_csv(
        path, read_options=pa_csv.ReadOptions(skip_rows=skip, column_names=placeholders, use_threads=threads,
                                              block_size=1 << 20),
        parse_options=pa_csv.ParseOptions(delimiter=sep, newlines_in_values=True, invalid_row_handler=invalid),
        convert_options=pa_csv.ConvertOptions(
            include_columns=[placeholders[i] for i in chosen],
            column_types={placeholders[i]: pa.string() if i in text else pa.float64() for i in chosen},
            strings_can_be_null=False, quoted_strings_can_be_null=False, null_values=[]),
        memory_pool=POOL)
    return reader.read_all()


@contextmanager
def _unraisable():
    """The exceptions raised where Python cannot raise them, collected instead of printed with their traceback:
    pyarrow calls the invalid-row handler so, and a row that is not UTF-8 text fails there before the handler runs."""
    lost, hook = [], sys.unraisablehook
    sys.unraisablehook = lambda unraisable: lost.append(unraisable.exc_value)
    try:
        yield lost
    finally:
        sys.unraisablehook = hook


def _read_csv(path: Path, fmt: str, keep, numeric) -> pd.DataFrame:
    """The columns `keep` accepts; those `numeric` accepts as floats where every cell is a finite number (a column
    with any other cell is read as text, to be parsed and named cell by cell), the others as text."""
    sep = "," if fmt == "csv" else "\t"
    names, skip = _csv_header(path, fmt, sep)
    chosen = _selected(path, names, keep, "row 1") or [0]  # none chosen: read one, to count the rows
    text = {i for i in chosen if numeric is None or not numeric(names[i])}
    bad = []

    def invalid(row) -> str:
        bad.append(row)
        return "skip"
    while True:
        try:
            with _unraisable() as lost:
                table = _stream_csv(path, sep, skip, names, chosen, text, invalid=invalid)
        except pa.ArrowInvalid as e:
            column = re.match(r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to double", str(e))
            if column and int(column.group(1)) not in text:  # a cell that is not a number: read the column as text
                text.add(int(column.group(1)))
                continue
            if "UTF8" in str(e) or any(isinstance(x, UnicodeDecodeError) for x in lost):
                raise _utf8_error(path, fmt) from None
            raise InputError(f"{path}: not a readable {fmt.upper()} file ({e})") from None
        if bad:  # read again on one thread: only then does pyarrow know the line of a bad row
            bad.clear()
            _stream_csv(path, sep, skip, names, chosen, text, threads=False, invalid=invalid)
            row = bad[0]
            raise InputError(f"{path}: row {row.number - skip + 1}: expected {row.expected_columns} fields as in the "
                             f"header, found {row.actual_columns} ({row.text[:60]!r})")  # rows as Rows counts them
        infinite = {i for k, i in enumerate(chosen)
                    if i not in text and pc.all(pc.is_finite(table.column(k))).as_py() is False}
        if not infinite:
            break
        text |= infinite  # inf or nan: read as text, for the messages to quote the cell
    frame = table.rename_columns([names[i] for i in chosen]).to_pandas(self_destruct=True, split_blocks=True, memory_pool=POOL)
    return frame if keep is None or keep(names[chosen[0]]) else frame.iloc[:, :0]


def _read_parquet(path: Path, keep) -> pd.DataFrame:
    try:
        file = pq.ParquetFile(path)
        names = file.schema_arrow.names
        chosen = _selected(path, names, keep, "the schema")
        if not chosen:
            return pd.DataFrame(index=pd.RangeIndex(file.metadata.num_rows))
        table = file.read(columns=[names[i] for i in chosen], use_pandas_metadata=False)
        return table.to_pandas(self_destruct=True)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds for a bad file
        raise InputError(f"{path}: not a readable parquet file ({e})") from None


def _json_object(path: Path, number: int, line: bytes) -> dict:
    try:
        record = json.loads(line)
    except UnicodeDecodeError:
        raise _utf8_error(path, "jsonl") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: line {number}: not JSON ({e.msg})") from None
    if not isinstance(record, dict):
        text = line.decode("utf-8", "replace").strip()
        raise InputError(f"{path}: line {number}: expected a JSON object, found {text[:60]!r}")
    return record


def _read_jsonl(path: Path, keep) -> pd.DataFrame:
    """JSON lines: only the keys kept, each value as JSON typed it (a key a line lacks: None)."""
    values: dict[str, list] = {}
    at: dict[str, list[int]] = {}
    index = []
    with open(path, "rb") as f:
        for i, line in enumerate(f):
            if line.strip():
                for k, v in _json_object(path, i + 1, line).items():
                    if keep is None or keep(k):
                        values.setdefault(k, []).append(v)
                        at.setdefault(k, []).append(len(index))
                index.append(i)
    if not index:
        raise InputError(f"{path}: empty file (no JSON lines)")
    columns = {}
    for k, vs in values.items():  # a key some lines lack: None there
        if len(vs) < len(index):
            column = [None] * len(index)
            for position, v in zip(at[k], vs):
                column[position] = v
            vs = column
        columns[k] = vs  # the frame infers each column's type as it did for the whole file
    return pd.DataFrame(columns, index=index) if columns else pd.DataFrame(index=index)


def read_table(path: str | Path, fmt: str, keep: Callable[[str], bool] | None = None,
               numeric: Callable[[str], bool] | None = None) -> tuple[pd.DataFrame, Rows]:
    """A CSV, TSV, parquet or JSONL file as a frame of the columns `keep` accepts (default: all), index = position
    in the file. CSV cells are strings, but in the columns `numeric` accepts where every cell is a finite number:
    floats."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: a directory; expected a {fmt.upper()} file")
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    if fmt in ("csv", "tsv"):
        raw, rows = _read_csv(path, fmt, keep, numeric), Rows(path)
    elif fmt == "parquet":
        raw, rows = _read_parquet(path, keep), Rows(path, offset=1)
    elif fmt == "jsonl":
        raw, rows = _read_jsonl(path, keep), Rows(path, kind="line", offset=1)
    else:
        raise ValueError(f"unknown table format {fmt!r}")
    if not len(raw):
        raise InputError(f"{path}: no rows after the header")
    raw.columns = [str(c) for c in raw.columns]
    return raw, rows
