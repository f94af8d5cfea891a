"""The metrics table, the contract between the stages: read only when complete, with every column meaning what
the contract says, one row per (run, task, step)."""

import numpy as np
import pandas as pd
import pytest

from taskladder.base.metrics_table import (
    METRIC_COLUMNS,
    InputError,
    read_csv_text,
    read_metrics,
)


def table(**changes) -> pd.DataFrame:
    """Two runs, two tasks, two checkpoints each."""
    rows = [{"run": run, "n": n, "step": step, "tokens": 100 * step, "task": task, "task_loss": 1.0 - 0.01 * step,
             "acc": 0.3, "task_ce": 1.2, "lm_loss": 3.0}
            for run, n in (("a", 10_000), ("b", 20_000)) for step in (1, 2) for task in ("piqa", "mmlu")]
    return pd.DataFrame(rows).assign(**changes)


def write(frame, path):
    frame.to_csv(path, index=False)
    return path


def test_run_flops_prefers_what_a_run_logged():
    from taskladder.base.metrics_table import run_flops

    assert run_flops(2.0, 10.0) == 120.0 and run_flops(2.0, 10.0, 500.0) == 500.0
    np.testing.assert_allclose(run_flops([2.0, 2.0, 2.0], [10.0] * 3, [500.0, np.nan, 0.0]), [500, 120, 120])



def test_a_table_is_read_whole_and_checked(tmp_path):
    frame = read_metrics([write(table(), tmp_path / "a.csv")])
    assert list(frame.columns) == METRIC_COLUMNS and len(frame) == 8
    assert frame["task_loss"].dtype == float and (frame["n"] > 0).all()
    empty_lm = table(lm_loss=np.nan, task_ce=np.nan)  # a source without them
    assert read_metrics(write(empty_lm, tmp_path / "b.csv"))["lm_loss"].isna().all()


@pytest.mark.parametrize("change,expected", [
    ({"acc": 30.0}, r"row 2, column 'acc': expected an accuracy in \[0, 1\] \(a fraction, not percent\), found 30.0"),
    ({"task_loss": -1.0}, r"row 2, column 'task_loss': expected a loss > 0, found -1.0"),
    ({"n": "ten"}, r"row 2, column 'n': expected a number, found 'ten'"),
    ({"n": 1.3}, r"row 2, column 'n': expected a parameter count >= 1000 \(a count, not millions or billions: 1.3e9, "
                 r"not 1.3\), found 1.3"),
])
def test_a_value_that_breaks_the_contract_is_named(tmp_path, change, expected):
    with pytest.raises(InputError, match=expected):
        read_metrics(write(table(**change), tmp_path / "m.csv"))


def test_runs_are_checked_whole(tmp_path):
    frame = table()
    frame.loc[0, "n"] = 10_001
    with pytest.raises(InputError, match=r"run a: column 'n' holds \[10000, 10001\]; expected one parameter count per run"):
        read_metrics(write(frame, tmp_path / "m.csv"))
    frame = table()
    frame.loc[frame.step == 2, "tokens"] = 50
    with pytest.raises(InputError, match="run a: tokens go down from 100 at step 1 to 50 at step 2"):
        read_metrics(write(frame, tmp_path / "m.csv"))
    with pytest.raises(InputError, match=r"run a, step 2: no rows for task\(s\) \['mmlu'\]"):
        read_metrics(write(table().drop(index=[3]), tmp_path / "m.csv"))
    with pytest.raises(InputError, match=r"row 10: duplicate \(run, task, step\) = \(a, piqa, 1\)"):
        read_metrics(write(pd.concat([table(), table().iloc[:1]]), tmp_path / "m.csv"))
    write(table(), tmp_path / "again.csv")
    with pytest.raises(InputError, match="run a is also in"):
        read_metrics([write(table(), tmp_path / "first.csv"), tmp_path / "again.csv"])


def test_a_row_without_a_run_or_task_name_is_named(tmp_path):
    """pandas reads an empty name as missing: such a row would be left out of its run's checks and fits, silently."""
    for column in ("run", "task"):
        frame = table().astype({column: object})
        frame.loc[2, column] = ""
        with pytest.raises(InputError, match=rf"m.csv: row 4, column '{column}': expected a {column} name, found ''"):
            read_metrics(write(frame, tmp_path / "m.csv"))
    with pytest.raises(InputError, match=r"row 2, column 'run': expected a run name, found 'NA', which reads as an "
                                         "empty cell"):
        read_metrics(write(table(run="NA"), tmp_path / "m.csv"))


def test_no_tokens_after_step_0_is_refused(tmp_path):
    """D = 0 at a run's checkpoints would leave step 1 nothing to fit, and the prediction silently wrong."""
    with pytest.raises(InputError, match=r"m.csv: row 2, column 'tokens': expected a token count > 0 at step 1 "
                                         r"\(0 only at step 0\), found 0"):
        read_metrics(write(table(tokens=0), tmp_path / "m.csv"))
    initial = table().assign(step=lambda f: f["step"] - 1, tokens=lambda f: 100 * f["step"])  # steps 0 and 1
    assert read_metrics(write(initial, tmp_path / "m.csv"))["tokens"].min() == 0  # the initial checkpoint: step 0


def test_a_column_named_twice_is_refused(tmp_path):
    """pandas would read the second as `acc.1`, and the first would count, silently."""
    (tmp_path / "m.csv").write_text(table().to_csv(index=False).replace("lm_loss", "acc", 1))
    with pytest.raises(InputError, match=r"m.csv: row 1, column 'acc': expected each column name once, found it twice "
                                         r"\(columns 7 and 9\)"):
        read_metrics(tmp_path / "m.csv")


def test_only_complete_utf8_text_is_read(tmp_path):
    text = table().to_csv(index=False)
    (tmp_path / "cut.csv").write_text(text[:-5])
    with pytest.raises(InputError, match="does not end with a newline: the file was cut"):
        read_csv_text(tmp_path / "cut.csv")
    (tmp_path / "latin.csv").write_bytes(text.encode() + "caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"line 10: not UTF-8 text \(byte 0xe9\)"):
        read_csv_text(tmp_path / "latin.csv")
    (tmp_path / "empty.csv").write_text("\n")
    with pytest.raises(InputError, match="empty file"):
        read_csv_text(tmp_path / "empty.csv")
    with pytest.raises(InputError, match=r"missing column\(s\) \['acc'\]"):
        read_metrics(write(table().drop(columns="acc"), tmp_path / "m.csv"))
