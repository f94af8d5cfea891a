"""The table importer: one `imported` entry reads a table of many runs by config (columns, templates, units)."""
import hashlib
import json
import math
from contextlib import contextmanager
from functools import partial
from itertools import pairwise

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT

from taskladder.base.config import ConfigError, load_config, schema, validate
from taskladder.base.metrics_table import InputError
from taskladder.imports import files, tables
from taskladder.imports.entry import (
    COLUMN_KEYS,
    ENTRY_KEYS,
    KNOWN_TASKS,
    METRICS,
    PRESETS,
    UNITS,
    check_entry,
)
from taskladder.imports.sources import Digest, digest, import_table
from taskladder.imports.tables import entry_chunks, read_entry, read_olmo_ladder
from taskladder.synthetic.ladders import ladder_truth
from taskladder.synthetic.shapes import table_for, write_table

# sha256 of the paper logs' import (every file, every known task) as the OLMo-ladder reader gave it before it became
# a preset of the table importer (commit 399bed0): the preset must give the same table, to the last bit
PAPER_IMPORT_SHA256 = "6082841e6b100eaf68489d1d104628bb5945659ffd9458899e293e4f93558956"


def paper_import_digest(paper_logs) -> str:
    digest = hashlib.sha256()
    for path in sorted(paper_logs.glob("*.csv")):
        frame = read_olmo_ladder(path, path.stem, 190354176, KNOWN_TASKS)
        digest.update(frame.to_csv(index=False).encode())
        digest.update(str({c: d.kind if d.kind in "iuf" else "text" for c, d in frame.dtypes.items()}).encode())
    return digest.hexdigest()


def test_olmo_ladder_preset_gives_the_same_table_as_before(paper_logs):
    assert paper_import_digest(paper_logs) == PAPER_IMPORT_SHA256


def test_the_original_form_is_the_olmo_ladder_preset():
    spec = check_entry("190M-1xC", {"file": "190M-1xC.csv", "n": 190354176, "ladder": True})
    assert spec["preset"] == "olmo_ladder" and spec["format"] == "csv" and spec["tasks"] == KNOWN_TASKS
    assert spec["metrics"]["acc"] == ["eval/downstream/{task}_rc_5shot_len_norm"]
    # an entry's own keys override the preset's, mapping by mapping
    spec = check_entry("r", {"file": "r.csv", "n": 1, "preset": "olmo_ladder", "units": {"acc": "percent"},
                             "overrides": {"piqa": {"acc": "eval/x"}}})
    assert spec["units"]["acc"] == "percent" and spec["units"]["task_ce"] == "log_prob"
    assert spec["overrides"]["piqa"] == {"acc": ["eval/x"]} and spec["overrides"]["boolq"]


SWEEP = {"file": "sweep.csv", "columns": {"run": "model", "n": "params", "tokens": "tokens", "group": "recipe"},
         "metrics": {"acc": "{task}_acc", "task_loss": "{task}_bpb"}, "tasks": ["piqa", "boolq"]}


def write(tmp_path, frame, name="sweep.csv", **kwargs):
    path = tmp_path / name
    frame.to_csv(path, index=False, **kwargs)
    return path


def sweep_frame(**columns):
    frame = pd.DataFrame({"model": ["a", "b", "c"], "params": [1e8, 2e8, 4e8], "tokens": [2e9, 4e9, 8e9],
                          "recipe": ["x", "x", "y"], "piqa_acc": [0.6, 0.65, 0.7], "piqa_bpb": [1.1, 1.0, 0.9],
                          "boolq_acc": [0.55, 0.6, 0.62], "boolq_bpb": [0.7, 0.65, 0.6]})
    return frame.assign(**columns)


def test_one_row_per_model(tmp_path):
    write(tmp_path, sweep_frame())
    m = read_entry("sweep", SWEEP, base_dir=tmp_path)
    assert list(m["run"].unique()) == ["a", "b", "c"] and (m["step"] == 0).all()  # one checkpoint per run
    assert list(m.columns)[-1] == "group" and m.loc[m["run"] == "c", "group"].iloc[0] == "y"
    b = m[(m["run"] == "b") & (m["task"] == "piqa")].iloc[0]
    assert (b["n"], b["tokens"], b["acc"], b["task_loss"]) == (200_000_000, 4_000_000_000, 0.65, 1.0)
    assert b["flops"] == 6 * 2e8 * 4e9 and np.isnan(b["task_ce"]) and np.isnan(b["lm_loss"])
    assert read_entry("sweep", SWEEP, base_dir=tmp_path, tasks=["boolq"])["task"].unique().tolist() == ["boolq"]


def test_units_are_converted(tmp_path):
    frame = sweep_frame(piqa_acc=[60, 65, 70], boolq_acc=[55, 60, 62], piqa_bpb=[1.0, 2.0, 3.0], lm=[3.0, 2.0, 1.0],
                        ce=[-0.5, -0.4, -0.3], params=[100, 200, 400])
    write(tmp_path, frame)
    entry = dict(SWEEP, metrics={**SWEEP["metrics"], "lm_loss": "lm", "task_ce": "ce"}, tasks=["piqa"],
                 units={"acc": "percent", "task_loss": "nats_per_token", "bytes_per_token": 4.0,
                        "lm_loss": "bits_per_token", "task_ce": "log_prob", "n": 1e6})
    m = read_entry("sweep", entry, base_dir=tmp_path)
    np.testing.assert_allclose(m["acc"], [0.6, 0.65, 0.7])
    np.testing.assert_allclose(m["task_loss"], np.array([1.0, 2.0, 3.0]) / 4.0 / math.log(2))  # nats/token -> bits/byte
    np.testing.assert_allclose(m["lm_loss"], np.array([3.0, 2.0, 1.0]) * math.log(2))  # bits/token -> nats/token
    np.testing.assert_allclose(m["task_ce"], [0.5, 0.4, 0.3])
    assert m["n"].tolist() == [100_000_000, 200_000_000, 400_000_000]


def test_accuracy_in_percent_declared_as_a_fraction_is_refused(tmp_path):
    write(tmp_path, sweep_frame(boolq_acc=[55.0, 60.0, 62.0]))
    with pytest.raises(InputError, match=r"sweep.csv: row 2, column 'boolq_acc': accuracy above 1 but imported"
                                         r".sweep.units.acc is fraction.*set imported.sweep.units.acc: percent"):
        read_entry("sweep", SWEEP, base_dir=tmp_path)
    write(tmp_path, sweep_frame())
    with pytest.raises(InputError, match=r"sweep.csv: column 'piqa_acc': every value is at most 1.*is it a fraction"):
        read_entry("sweep", dict(SWEEP, units={"acc": "percent"}), base_dir=tmp_path)


@pytest.mark.parametrize("column, value, expected", [
    ("piqa_bpb", -0.1, r"row 3, column 'piqa_bpb': expected a loss > 0, found -0.1"),
    ("piqa_bpb", "inf", r"row 3, column 'piqa_bpb': expected a finite number, found 'inf'"),
    ("piqa_acc", "", r"row 3, column 'piqa_acc': expected a finite number, found ''"),
    ("piqa_acc", -0.2, r"row 3, column 'piqa_acc': expected an accuracy in \[0, 1\], found -0.2"),
    ("params", 0, r"row 3, column 'params': expected n \(non-embedding parameters\) >= 1000: a count \(1.3e9, not 1.3\); "
     r"a column in millions or billions needs its unit \(`units: \{n: 1e6\}`\), found 0"),
    ("tokens", -5, r"row 3, column 'tokens': expected tokens > 0 \(0 only at step 0\), found -5"),
    ("model", "", r"row 3, column 'model': expected a run name, found an empty cell"),
    ("tokens", 0, r"row 3, column 'tokens': expected tokens > 0 \(one checkpoint per run: its final model\), found 0"),
    ("tokens", 1e30, r"row 3, column 'tokens': expected tokens below 2\^63, found 1e\+30"),  # int64 would wrap
    ("params", 1e30, r"row 3, column 'params': expected n \(non-embedding parameters\) below 2\^63, found 1e\+30"),
])
def test_bad_values_name_file_row_and_column(tmp_path, column, value, expected):
    frame = sweep_frame().astype(object)
    frame.loc[1, column] = value
    write(tmp_path, frame)
    with pytest.raises(InputError, match=r"sweep.csv: " + expected):
        read_entry("sweep", SWEEP, base_dir=tmp_path)


def test_missing_columns_name_file_column_and_entry(tmp_path):
    write(tmp_path, sweep_frame().drop(columns=["boolq_bpb"]))
    with pytest.raises(InputError, match=r"sweep.csv: missing column 'boolq_bpb' for task_loss of task 'boolq'; "
                                         r"the entry imported.sweep maps it there"):
        read_entry("sweep", SWEEP, base_dir=tmp_path)
    # an optional metric may be missing: it is left empty
    m = read_entry("sweep", dict(SWEEP, optional=["task_loss"]), base_dir=tmp_path)
    assert m.query("task == 'boolq'")["task_loss"].isna().all() and m.query("task == 'piqa'")["task_loss"].notna().all()
    write(tmp_path, sweep_frame().drop(columns=["tokens"]))
    with pytest.raises(InputError, match=r"sweep.csv: missing column 'tokens'"):
        read_entry("sweep", SWEEP, base_dir=tmp_path)


def test_a_step_or_seed_beyond_64_bits_is_refused(tmp_path):
    frame = pd.DataFrame({"run": ["a", "a"], "step": [100, 1e19], "seed": [1, 1], "n": 1e8, "tokens": [1e9, 2e9],
                          "piqa_acc": 0.6, "piqa_bpb": 1.0})
    entry = {"file": "h.csv", "columns": {"run": "run", "step": "step", "n": "n", "tokens": "tokens", "seed": "seed"},
             "metrics": {"acc": "{task}_acc", "task_loss": "{task}_bpb"}, "tasks": ["piqa"]}
    write(tmp_path, frame, "h.csv")
    with pytest.raises(InputError, match=r"h.csv: row 3, column 'step': expected a step below 2\^63, found 1e\+19"):
        read_entry("h", entry, base_dir=tmp_path)
    write(tmp_path, frame.assign(step=[100, 200], seed=[1, -1e19]), "h.csv")
    with pytest.raises(InputError, match=r"h.csv: row 3, column 'seed': expected a seed between -2\^63 and 2\^63"):
        read_entry("h", entry, base_dir=tmp_path)


def test_a_file_none_of_whose_columns_is_mapped_says_what_is_missing(tmp_path):
    """Not 'no rows left after the filters {}': the rows are there, the columns are not."""
    (tmp_path / "sweep.csv").write_text("x,y\n1,2\n")
    with pytest.raises(InputError, match=r"sweep.csv: missing column 'model' \(the run name\)"):
        read_entry("sweep", SWEEP, base_dir=tmp_path)


def test_checkpoints_step_tokens_and_duplicates(tmp_path):
    frame = pd.DataFrame({"run": ["a"] * 3 + ["b"] * 3, "step": [100, 200, 300] * 2, "n": 1e8,
                          "tokens": [1e9, 2e9, 3e9, 1e9, 2e9, 3e9], "piqa_acc": 0.6, "piqa_bpb": 1.0})
    entry = {"file": "h.csv", "columns": {"run": "run", "step": "step", "n": "n", "tokens": "tokens"},
             "metrics": {"acc": "{task}_acc", "task_loss": "{task}_bpb"}, "tasks": ["piqa"]}
    write(tmp_path, frame, "h.csv")
    assert read_entry("h", entry, base_dir=tmp_path)["step"].tolist() == [100, 200, 300] * 2
    write(tmp_path, frame.assign(tokens=[1e9, 3e9, 2e9, 1e9, 2e9, 3e9]), "h.csv")
    with pytest.raises(InputError, match=r"h.csv: run 'a': tokens decrease with step, 3000000000 at step 200 \(row 3\) "
                                         r"then 2000000000 at step 300 \(row 4\)"):
        read_entry("h", entry, base_dir=tmp_path)
    write(tmp_path, frame.assign(step=[100, 200, 200, 100, 200, 300]), "h.csv")
    with pytest.raises(InputError, match=r"h.csv: duplicate step 200 in rows \[3, 4\] \(run 'a', task 'piqa'\)"):
        read_entry("h", entry, base_dir=tmp_path)
    # tokens counted from the step
    write(tmp_path, frame.drop(columns=["tokens"]).assign(bs=1e7), "h.csv")
    counted = {**entry, "columns": {**entry["columns"], "tokens": None}, "tokens_per_step": "bs"}
    m = read_entry("h", counted, base_dir=tmp_path)
    assert m["tokens"].tolist() == [1_000_000_000, 2_000_000_000, 3_000_000_000] * 2


def test_runs_that_differ_by_seed(tmp_path):
    frame = pd.DataFrame({"model": ["a", "a", "b"], "seed": [0, 1, 0], "params": 1e8, "tokens": 2e9, "piqa_acc": 0.6,
                          "piqa_bpb": [1.0, 1.01, 1.0]})
    write(tmp_path, frame)
    entry = {"file": "sweep.csv", "columns": {"run": "model", "n": "params", "tokens": "tokens", "seed": "seed"},
             "metrics": {"acc": "{task}_acc", "task_loss": "{task}_bpb"}, "tasks": ["piqa"]}
    with pytest.raises(InputError, match=r"duplicate step 0 in rows \[2, 3\].*name runs by seed too: "
                                         r"imported.sweep.columns.run: \[model, seed\]"):
        read_entry("sweep", entry, base_dir=tmp_path)
    m = read_entry("sweep", {**entry, "columns": {**entry["columns"], "run": ["model", "seed"]}}, base_dir=tmp_path)
    assert m["run"].tolist() == ["a-0", "a-1", "b-0"] and m["seed"].tolist() == [0, 1, 0]


def test_long_task_layout_with_per_task_overrides_and_names(tmp_path):
    frame = pd.DataFrame({"run": "r", "n": 1e8, "step": [1, 1, 2, 2], "tokens": [1e9, 1e9, 2e9, 2e9],
                          "task": ["openbook_qa", "boolq"] * 2, "acc_norm": [0.3, np.nan, 0.35, np.nan],
                          "acc": [0.2, 0.6, 0.25, 0.62], "bpb": [1.2, 0.8, 1.1, 0.7], "split": ["test"] * 4})
    frame = pd.concat([frame, frame.assign(split="val", acc=0.9)])
    write(tmp_path, frame, "long.tsv", sep="\t")
    columns = {"run": "run", "n": "n", "step": "step", "tokens": "tokens", "task": "task"}
    entry = {"file": "long.tsv", "columns": columns,
             "metrics": {"acc": "acc_norm", "task_loss": "bpb"}, "overrides": {"boolq": {"acc": "acc"}},
             "task_names": {"openbookqa": "openbook_qa"}, "filters": {"split": "test"}}
    m = read_entry("long", entry, base_dir=tmp_path)
    assert sorted(m["task"].unique()) == ["boolq", "openbookqa"]
    assert m.query("task == 'openbookqa'")["acc"].tolist() == [0.3, 0.35]
    assert m.query("task == 'boolq'")["acc"].tolist() == [0.6, 0.62]
    with pytest.raises(InputError, match=r"long.tsv: duplicate step 1 in rows \[2, 6\] \(run 'r', task 'openbookqa'\)"):
        read_entry("long", {**entry, "filters": {}}, base_dir=tmp_path)
    with pytest.raises(InputError, match=r"no rows left after the filters"):
        read_entry("long", {**entry, "filters": {"split": ["dev"]}}, base_dir=tmp_path)


def test_a_template_without_task_cannot_serve_two_tasks(tmp_path):
    write(tmp_path, sweep_frame(acc=0.5))
    with pytest.raises(InputError, match=r"column 'acc' is mapped to acc of both task 'piqa' and task 'boolq'"):
        read_entry("sweep", dict(SWEEP, metrics={"acc": "acc"}), base_dir=tmp_path)


def test_wandb_history_export(tmp_path):
    """A run's history as W&B exports it: `_step`, `_runtime`, `_timestamp`, and every logged key; evaluations
    are logged every 3 steps, so the other rows have empty evaluation cells."""
    steps = np.arange(1, 13)
    history = pd.DataFrame({"_step": steps, "_runtime": steps * 2.5, "_timestamp": 1.7e9 + steps,
                            "train/loss": 4 - steps / 10,
                            "eval/piqa/acc": np.where(steps % 3 == 0, 0.5 + steps / 100, np.nan),
                            "eval/piqa/bpb": np.where(steps % 3 == 0, 1.2 - steps / 100, np.nan)})
    history.to_csv(tmp_path / "wandb.csv", index=False)
    entry = {"file": "wandb.csv", "preset": "wandb", "n": 1000, "tokens_per_step": 4096,
             "metrics": {"acc": "eval/{task}/acc", "task_loss": "eval/{task}/bpb"}, "tasks": ["piqa"]}
    m = read_entry("run1", entry, base_dir=tmp_path)
    assert m["step"].tolist() == [3, 6, 9, 12] and m["tokens"].tolist() == [3 * 4096, 6 * 4096, 9 * 4096, 12 * 4096]
    np.testing.assert_allclose(m["acc"], [0.53, 0.56, 0.59, 0.62])
    assert (m["run"] == "run1").all()
    history.loc[4, "eval/piqa/acc"] = 0.5  # step 5 has accuracy but no task loss
    history.to_csv(tmp_path / "wandb.csv", index=False)
    with pytest.raises(InputError, match=r"wandb.csv: row 6, column 'eval/piqa/bpb': expected a finite number"):
        read_entry("run1", entry, base_dir=tmp_path)


@pytest.mark.parametrize("suffix", ["parquet", "jsonl"])
def test_parquet_and_jsonl(tmp_path, suffix):
    frame = sweep_frame()
    path = tmp_path / f"sweep.{suffix}"
    if suffix == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True)
    m = read_entry("sweep", dict(SWEEP, file=path.name), base_dir=tmp_path)
    assert m.query("task == 'piqa'")["acc"].tolist() == [0.6, 0.65, 0.7]
    label = "row 2" if suffix == "parquet" else "line 2"
    frame.loc[1, "piqa_acc"] = 70.0
    frame.to_parquet(path) if suffix == "parquet" else frame.to_json(path, orient="records", lines=True)
    with pytest.raises(InputError, match=rf"sweep.{suffix}: {label}, column 'piqa_acc': accuracy above 1"):
        read_entry("sweep", dict(SWEEP, file=path.name), base_dir=tmp_path)


def test_unreadable_files(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"model": "a"}\n{"model": \n')
    with pytest.raises(InputError, match=r"bad.jsonl: line 2: not JSON"):
        read_entry("s", dict(SWEEP, file="bad.jsonl"), base_dir=tmp_path)
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InputError, match=r"bad.parquet: not a readable parquet file"):
        read_entry("s", dict(SWEEP, file="bad.parquet"), base_dir=tmp_path)
    with pytest.raises(InputError, match=r"file not found: .*absent.csv"):
        read_entry("s", dict(SWEEP, file="absent.csv"), base_dir=tmp_path)


@pytest.mark.parametrize("change, expected", [
    ({"units": {"acc": "percentage"}}, r"imported.s.units.acc: unknown unit 'percentage'; expected one of"),
    ({"units": {"task_loss": "bits_per_token"}}, r"units.task_loss: bits_per_token converts .* units.bytes_per_token"),
    ({"metrics": {"acc": "{name}_acc"}}, r"imported.s.metrics.acc: template '\{name\}_acc' uses \['name'\]"),
    ({"metrics": {"accuracy": "x"}}, r"imported.s.metrics.accuracy: unknown metric"),
    ({"metrics": {}}, r"imported.s.metrics: no metric mapped"),
    ({"columns": {"params": "n"}}, r"imported.s.columns.params: unknown column key"),
    ({"tasks": None}, r"imported.s.tasks: required: the table has one column per task"),
    ({"preset": "olmo"}, r"imported.s.preset: unknown preset 'olmo'"),
    ({"file": "x.xlsx"}, r"imported.s.format: cannot tell the format of 'x.xlsx'"),
    ({"n": 5000}, r"imported.s.n: given both as a constant and as columns.n"),
    ({"aggregates": {"mmlu": {"mmlu_stem": -1}}}, r"imported.s.aggregates.mmlu.mmlu_stem: expected a positive number"),
    ({"size": 1}, r"imported.s: unknown key\(s\) \['size'\]"),
])
def test_entry_errors_name_the_key(change, expected):
    with pytest.raises(ConfigError, match=expected):
        check_entry("s", {**SWEEP, **change})


def test_the_schema_knows_the_importer(tmp_path):
    """The `imported` block of the config schema accepts every form the importer reads and names what it rejects;
    its enums are the importer's."""
    imported = schema()["properties"]["imported"]
    entry = imported["additionalProperties"]["properties"]
    assert set(entry) == set(ENTRY_KEYS)
    assert set(entry["columns"]["properties"]) == set(COLUMN_KEYS)
    assert set(imported["$defs"]["templates"]["properties"]) == set(METRICS)
    assert entry["preset"]["enum"] == list(PRESETS)
    assert entry["units"]["properties"]["task_ce"]["enum"] == list(UNITS["task_ce"])
    assert imported["$defs"]["loss_unit"]["enum"] == list(UNITS["task_loss"])
    assert imported["$defs"]["accuracy_unit"]["enum"] == list(UNITS["acc"])
    base = yaml.safe_load((ROOT / "configs" / "synthetic.yaml").read_text())
    lm_eval = {"file": "runs/r", "format": "lm_eval", "manifest": {"n": 5000, "checkpoints": [
        {"results": "step10", "step": 10, "tokens": 100}]}}
    for good in (SWEEP, lm_eval, {"file": "w.csv", "preset": "wandb", "n": 3000, "metrics": {"acc": ["a", "b"]},
                                  "filters": {"split": "test", "step": {"min": 10}}}):
        validate(dict(base, imported={"x": dict(good)}))
    for bad, where in (({"file": "a.csv", "units": {"acc": "percentage"}}, "'percentage' is not one of"),
                       ({"file": "a.csv", "metrics": {"acc": 3}}, "is not valid under any of the given schemas"),
                       ({"n": 3}, "'file' is a required property")):
        with pytest.raises(ConfigError, match=where):
            load_config(overrides={**base, "imported": {"x": bad}})
    # the original form still loads, with its default
    config = load_config(ROOT / "configs" / "olmo-paper-import.yaml", {"olmo_ladder_dir": str(tmp_path)})
    assert config["imported"]["190M-1xC"] == {"file": "190M-1xC.csv", "n": 190354176, "ladder": True}


# ---- ambiguous cells are errors (file, row, column, expected vs found); only the mapped columns are read ------------

@contextmanager
def unchanged(folder):
    """Checks that the files in `folder` are as they were."""
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    yield
    assert {p: p.read_bytes() for p in before} == before


def write_as(tmp_path, frame, suffix, header=None):
    """`frame` as sweep.<suffix>, with `header` as its column names (repeats allowed); returns the entry."""
    path = tmp_path / f"sweep.{suffix}"
    if suffix == "parquet":
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table.rename_columns(header or list(frame.columns)), path)
    elif suffix == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in frame.to_dict("records")))
    else:
        frame.set_axis(header or list(frame.columns), axis=1).to_csv(path, index=False, sep="\t" if suffix == "tsv" else ",")
    return dict(SWEEP, file=path.name)


@pytest.mark.parametrize("suffix, where", [("csv", "row 1"), ("tsv", "row 1"), ("parquet", "the schema")])
def test_a_column_read_whose_name_repeats_is_an_error(tmp_path, suffix, where):
    frame = sweep_frame(notes="x", extra="y")
    header = [{"boolq_bpb": "piqa_acc", "extra": "notes"}.get(c, c) for c in frame.columns]
    entry = write_as(tmp_path, frame, suffix, header)
    with unchanged(tmp_path), pytest.raises(InputError) as error:
        read_entry("sweep", entry, base_dir=tmp_path)
    assert str(error.value) == (f"{tmp_path / entry['file']}: {where}, column 'piqa_acc': expected each column name "
                                "once, found it twice (columns 5 and 8); rename one")
    header = [{"extra": "notes"}.get(c, c) for c in frame.columns]  # a column not read may repeat
    read_entry("sweep", write_as(tmp_path, frame, suffix, header), base_dir=tmp_path)


@pytest.mark.parametrize("cell, found", [("0.5", 'the JSON string "0.5"'), ([0.5], "the JSON array [0.5]"),
                                         (True, "the JSON boolean true"), ({"v": 1}, 'the JSON object {"v": 1}')])
def test_a_jsonl_number_is_a_json_number(tmp_path, cell, found):
    frame = sweep_frame().astype(object)
    frame.at[1, "piqa_bpb"] = cell
    entry = write_as(tmp_path, frame, "jsonl")
    with unchanged(tmp_path), pytest.raises(InputError) as error:
        read_entry("sweep", entry, base_dir=tmp_path)
    assert str(error.value) == f"{tmp_path / 'sweep.jsonl'}: line 2, column 'piqa_bpb': expected a number, found {found}"


def test_fractions_and_percent_mixed_in_a_column_are_refused(tmp_path):
    write(tmp_path, sweep_frame(piqa_acc=[60.0, 0.65, 70.0], boolq_acc=[55, 60, 62]))
    with unchanged(tmp_path), pytest.raises(InputError) as error:
        read_entry("sweep", dict(SWEEP, units={"acc": "percent"}), base_dir=tmp_path)
    assert str(error.value) == (f"{tmp_path / 'sweep.csv'}: row 3, column 'piqa_acc': expected percent on one scale in "
                                "the column (imported.sweep.units.acc is percent), found 0.65 here and 60 at row 2: "
                                "fractions and percent mixed (1 values in (0, 1], 2 above 1)")
    write(tmp_path, sweep_frame(piqa_acc=[0.0, 65.0, 1.0], boolq_acc=[55, 60, 62]))  # 0 and 1 alone: no scale
    with pytest.raises(InputError, match=r"row 4, column 'piqa_acc': .* found 1 here and 65 at row 3"):
        read_entry("sweep", dict(SWEEP, units={"acc": "percent"}), base_dir=tmp_path)


@pytest.mark.parametrize("cell, found", [("", "an empty cell"), ("big", "'big'")])
def test_a_range_filter_needs_a_number_in_every_row(tmp_path, cell, found):
    frame = sweep_frame().astype(object)
    frame.at[2, "params"] = cell
    write(tmp_path, frame)
    with unchanged(tmp_path), pytest.raises(InputError) as error:
        read_entry("sweep", dict(SWEEP, filters={"params": {"max": 3e8}}), base_dir=tmp_path)
    assert str(error.value) == (f"{tmp_path / 'sweep.csv'}: row 4, column 'params': expected a number to compare with "
                                f"imported.sweep.filters.params {{'max': 300000000.0}}, found {found}")
    # a value filter keeps the cells equal to its values: an empty cell equals none (the rule its doc states)
    write(tmp_path, sweep_frame(recipe=["x", "", "y"]))
    assert read_entry("sweep", dict(SWEEP, columns={**SWEEP["columns"], "group": None}, filters={"recipe": "x"}),
                      base_dir=tmp_path)["run"].unique().tolist() == ["a"]


def test_a_row_with_more_or_fewer_fields_than_the_header_is_an_error(tmp_path):
    text = sweep_frame().to_csv(index=False)
    for extra, found in (("d,1e8\n", 2), ("d,1,2,x,0.5,1,0.5,1,9\n", 9)):
        (tmp_path / "sweep.csv").write_text(text + extra)
        with unchanged(tmp_path), pytest.raises(InputError) as error:
            read_entry("sweep", SWEEP, base_dir=tmp_path)
        assert str(error.value) == (f"{tmp_path / 'sweep.csv'}: row 5: expected 8 fields as in the header, found "
                                    f"{found} ({extra.strip()!r})")


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_columns_the_entry_does_not_map_are_never_read(tmp_path, monkeypatch, suffix):
    frame = sweep_frame(notes=["ok", "garbage", "x"], winogrande_acc=["n/a", "?", ""], _runtime=[1.5, "inf", None])
    entry = write_as(tmp_path, frame.astype(str) if suffix == "parquet" else frame, suffix)
    if suffix == "csv":  # bytes that are not even text, in a column not read
        path = tmp_path / entry["file"]
        path.write_bytes(path.read_bytes().replace(b"garbage", b"garb\xe9\xffge"))
    read = []
    monkeypatch.setattr(tables, "read_table", lambda *a, **k: read.append(files.read_table(*a, **k)) or read[-1])
    m = read_entry("sweep", entry, base_dir=tmp_path)
    assert sorted(read[0][0].columns) == sorted(["model", "params", "tokens", "recipe", "piqa_acc", "piqa_bpb",
                                                 "boolq_acc", "boolq_bpb"])
    assert m.query("task == 'piqa'")["acc"].tolist() == [0.6, 0.65, 0.7]


def test_a_big_table_is_assembled_a_slice_of_runs_at_a_time(tmp_path, monkeypatch):
    """Slices of whole runs, in the order of their names: together the table as a whole, to the bit and digest; the
    import job writes its group's rows a slice at a time."""
    truth = ladder_truth(("piqa", "boolq"), checkpoints=4, seeds=[0, 1], groups=("web", "curated"))
    entry = {"file": "t.csv", "columns": {"run": "run", "n": "n", "tokens": "tokens", "step": "step", "group": "g"},
             "metrics": {"acc": "{task}_acc", "task_loss": "{task}_bpb"}, "tasks": ["piqa", "boolq"]}
    write_table(table_for(truth, entry).sample(frac=1, random_state=0), tmp_path / "t.csv")
    whole = read_entry("t", entry, base_dir=tmp_path)
    slices = list(entry_chunks("t", entry, base_dir=tmp_path, limit=50))
    assert len(slices) > 5 and all(set(s["run"]).isdisjoint(t["run"]) for s, t in pairwise(slices))
    assert pd.concat(slices, ignore_index=True).to_csv(index=False) == whole.to_csv(index=False)
    sliced = Digest()
    for s in slices:
        sliced.update(s)
    assert sliced.hexdigest() == digest(whole) and len(whole) == len(truth)
    monkeypatch.setattr(tables, "CHUNK_ROWS", 50)
    web = whole[whole["group"] == "web"]
    job = {"entry": "t", "spec": entry, "base_dir": str(tmp_path), "group": "web", "digest": digest(web)}
    assert import_table(job, tmp_path / "web.csv") == {"runs": web["run"].nunique(), "checkpoints": len(web) // 2,
                                                      "tasks": 2}
    assert (tmp_path / "web.csv").read_text() == web.to_csv(index=False)
    with pytest.raises(InputError, match=r"imported\.t: t\.csv changed since the workflow started; run it again"):
        import_table({**job, "digest": digest(whole)}, tmp_path / "all.csv")
    assert not (tmp_path / "all.csv").exists()


@pytest.mark.parametrize("threads", [True, False])  # one thread: as in a workflow job (OMP_NUM_THREADS=1)
def test_a_column_of_numbers_with_other_cells_is_read_as_text(tmp_path, monkeypatch, threads):
    monkeypatch.setattr(files, "_stream_csv", partial(files._stream_csv, threads=threads))
    write(tmp_path, sweep_frame(lm=[3.0, "", 2.5], boolq_bpb=[0.7, " 0.65", 0.6]))
    m = read_entry("sweep", dict(SWEEP, metrics={**SWEEP["metrics"], "lm_loss": "lm"}, optional=["lm_loss"]),
                   base_dir=tmp_path)
    assert m.query("task == 'boolq'")["task_loss"].tolist() == [0.7, 0.65, 0.6]
    assert m.query("task == 'piqa'")["lm_loss"].fillna(0).tolist() == [3.0, 0, 2.5]
