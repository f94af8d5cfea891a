"""The jobs that draw: a method's figures from its tables, and the variance analysis's table and figure."""

import pandas as pd
from test_figures import method_fixture  # noqa: F401 (fixture method)

from taskladder.analyses import paper
from taskladder.base.files import write_csv
from taskladder.report import jobs


def test_a_methods_figures_job_reads_its_tables_and_the_flags(method, tmp_path):
    result, _ = method
    inputs = {}
    for name in ("fits", "points"):
        inputs[name] = tmp_path / f"{name}.csv"
        write_csv(getattr(result, name), inputs[name])
    inputs["summary"] = tmp_path / "predictions.csv"
    write_csv(result.predictions.assign(group="web"), inputs["summary"])
    outputs = {name: tmp_path / f"{name}.png" for name in ("step1", "step2", "chained")}
    jobs.figures_job("two_step", {"figures": {"format": "png", "dpi": 60}, "group": "web"}, inputs, outputs)
    assert all(p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 1000 for p in outputs.values())


def test_the_variance_job_writes_its_table_then_its_figure(method, tmp_path):
    _, ladder = method
    write_csv(ladder, tmp_path / "ladder.csv")
    outputs = {"table": tmp_path / "variance.csv", "figure": tmp_path / "variance.png"}
    job = {"settings": {"run": None, "tasks": ["piqa"], "last": 4}, "figures": {"format": "png", "dpi": 60}}
    table = jobs.variance_job(job, [tmp_path / "ladder.csv"], outputs)
    assert table["run"].tolist() == [paper.largest_run(ladder)] and table["checkpoints"].tolist() == [4]
    pd.testing.assert_frame_equal(pd.read_csv(outputs["table"]), table, check_dtype=False)
    assert outputs["figure"].stat().st_size > 1000
