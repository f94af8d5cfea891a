"""The cells of a read table as values: numbers, names and metrics in the contract's units, checked column by column
(vectorised; a bad cell is named by file, row and column, with what was expected and what was found).

- A number is a cell that parses as one (CSV, TSV), or a JSON number (JSONL: a string such as "0.5", a boolean or
  an array where a number is expected is an error, whatever it holds). An empty cell is a missing value where
  the column is optional, an error elsewhere.
- An accuracy declared `percent` is in [0, 100], and on one scale in its column: a column with values in (0, 1]
  at some rows and above 1 at others holds fractions and percent mixed, an error (all of them at most 1: the
  column holds fractions)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from taskladder.base.metrics_table import InputError
from taskladder.imports.entry import loss_factor
from taskladder.imports.files import Rows

EMPTY = ["", "nan", "NaN", "None", "null"]  # an empty cell, as text


JSON_KINDS = {str: "string", bool: "boolean", list: "array", dict: "object"}


def empty(series: pd.Series) -> np.ndarray:
    """Which cells are empty (missing, or text that means nothing)."""
    return (series.isna() | series.astype(str).str.strip().isin(EMPTY)).to_numpy()


def found(cell) -> str:
    """A cell as an error message quotes it: text as it is in the file, a number, or an empty cell."""
    if cell is None or (isinstance(cell, (float, np.floating)) and np.isnan(cell)):
        return "an empty cell"
    if isinstance(cell, (float, np.floating, int, np.integer)) and not isinstance(cell, bool):
        return f"{cell:g}"
    return repr(cell)


def _json_number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def check_json_numbers(cells: pd.Series, column: str, rows: Rows) -> None:
    """JSONL: where a number is expected, a JSON number (or null, or no key: an empty cell)."""
    if cells.dtype.kind in "iuf":
        return
    for label, value in cells.items():  # not a column of numbers: find the first cell that is not one
        if not _json_number(value) and not (isinstance(value, float) and np.isnan(value)):
            kind = JSON_KINDS.get(type(value), type(value).__name__)
            raise InputError(f"{rows.path}: {rows.label(label)}, column '{column}': expected a number, found the JSON "
                             f"{kind} {json.dumps(value)[:60]}")


def parse(cells: pd.Series) -> np.ndarray:
    """Cells as floats, NaN where a cell is not a number. Text is parsed by pyarrow at once where every cell is
    a number, else by pandas (which parses what pyarrow does, and more: surrounding spaces)."""
    if cells.dtype.kind in "iuf":
        return cells.to_numpy(dtype=float)
    if isinstance(cells.dtype, pd.StringDtype) or cells.dtype == object:
        try:
            text = pa.array(cells, from_pandas=True)
            if pa.types.is_string(text.type) or pa.types.is_large_string(text.type):
                return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass
    return pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)


def numbers(raw: pd.DataFrame, column: str, rows: Rows, required: bool = True) -> np.ndarray:
    """A column as floats; a non-numeric cell, or an empty one where `required`, names file, row and column."""
    if column not in raw.columns:
        raise InputError(f"{rows.path}: missing column '{column}'")
    cells = raw[column]
    if rows.kind == "line":
        check_json_numbers(cells, column, rows)
    values = parse(cells)
    bad = ~np.isfinite(values)
    if bad.any() and not required:  # an empty cell of an optional column is a missing value
        bad[bad] = ~empty(cells[bad])
    if bad.any():
        i = np.flatnonzero(bad)
        more = f" ({i.size} bad cells in this column)" if i.size > 1 else ""
        raise InputError(f"{rows.path}: {rows.label(raw.index[i[0]])}, column '{column}': expected a finite number, "
                         f"found {found(cells.iloc[i[0]])}{more}")
    return values


def check(ok: np.ndarray, raw: pd.DataFrame, values, column: str, rows: Rows, expected: str) -> None:
    """Every value (not NaN) where `ok`; the first that is not names file, row and column."""
    bad = np.flatnonzero(~ok & ~np.isnan(values))
    if bad.size:
        i = bad[0]
        raise InputError(f"{rows.path}: {rows.label(raw.index[i])}, column '{column}': {expected}, found {values[i]:g}"
                         + (f" ({bad.size} such cells in this column)" if bad.size > 1 else ""))


def names(raw: pd.DataFrame, column: str, rows: Rows, what: str) -> pd.Series:
    """A column of names (runs, groups); an empty cell names file, row and column."""
    if column not in raw.columns:
        raise InputError(f"{rows.path}: missing column '{column}' (the {what})")
    missing = empty(raw[column])
    if missing.any():
        raise InputError(f"{rows.path}: {rows.label(raw.index[np.flatnonzero(missing)[0]])}, column '{column}': "
                         f"expected a {what}, found an empty cell")
    return raw[column].astype(str)


def _percent(values: np.ndarray, raw, column: str, rows: Rows, where: str) -> np.ndarray:
    check((values >= 0) & (values <= 100), raw, values, column, rows, "expected a percent in [0, 100]")
    finite = values[np.isfinite(values)]
    if finite.size and finite.max() <= 1:
        raise InputError(f"{rows.path}: column '{column}': every value is at most 1 (largest {finite.max():g}) "
                         f"but {where} is percent; is it a fraction? set {where}: fraction")
    small, large = np.flatnonzero((values > 0) & (values <= 1)), np.flatnonzero(values > 1)
    if small.size:  # and large ones: fractions and percent in one column
        a, b = (small[0], large[0]) if small.size <= large.size else (large[0], small[0])
        raise InputError(f"{rows.path}: {rows.label(raw.index[a])}, column '{column}': expected percent on one scale in "
                         f"the column ({where} is percent), found {values[a]:g} here and {values[b]:g} at "
                         f"{rows.label(raw.index[b])}: fractions and percent mixed ({small.size} values in (0, 1], "
                         f"{large.size} above 1)")
    return values / 100


def convert(values: np.ndarray, metric: str, spec: dict, raw, column: str, rows: Rows) -> np.ndarray:
    """Values in their declared unit -> the contract's unit, checked for meaning."""
    units = spec["units"]
    unit = units[metric]
    where = f"imported.{spec['name']}.units.{metric}"
    if metric in ("acc", "acc_mc"):
        if unit == "percent":
            return _percent(values, raw, column, rows, where)
        check(values <= 1, raw, values, column, rows, f"accuracy above 1 but {where} is fraction; if the column holds "
                                                      f"percent, set {where}: percent")
        check(values >= 0, raw, values, column, rows, "expected an accuracy in [0, 1]")
        return values
    if unit == "log_prob":
        check(values <= 0, raw, values, column, rows, f"expected a log-probability <= 0 ({where} is log_prob; "
                                                      "set nats if the column holds the TaskCE itself)")
        values = -values
    else:
        factor = loss_factor(metric, unit, units.get("bytes_per_token"))
        if factor != 1.0:
            values = values * factor
    check(values > 0, raw, values, column, rows, "expected a loss > 0")
    return values
