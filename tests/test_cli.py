import pandas as pd
import pytest

from taskladder.cli import main
from taskladder.synthetic.ladders import write_example
from taskladder.synthetic.truth import SIZES, TARGET


def test_import_then_fit(tmp_path, capsys):
    logs = tmp_path / "logs"
    write_example(logs, seed=5)
    metrics = tmp_path / "metrics"
    for size, n in SIZES.items():
        for xc in (1, 2, 5, 10):
            assert main(["import", str(logs / f"{size}-{xc}xC.csv"), "--run", f"{size}-{xc}xC", "--n", str(n),
                         "-o", str(metrics / f"{size}-{xc}xC.csv")]) == 0
    name, n, d = TARGET
    assert main(["import", str(logs / f"{name}.csv"), "--run", name, "--n", str(n), "-o", str(metrics / f"{name}.csv")]) == 0
    out = tmp_path / "out"
    assert main(["fit", str(metrics), "--target", f"{name}={n},{d}", "-o", str(out)]) == 0
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 8 and predictions["actual_acc"].notna().all()
    assert predictions["abs_error"].max() < 0.03
    fits = pd.read_csv(out / "fits.csv")
    assert set(fits["step"]) == {"step1", "step2"} and fits["n_points"].min() >= 16


def test_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "missing")]) == 2
    assert "no such metrics directory" in capsys.readouterr().err
    assert main(["fit", str(tmp_path), "--target", "7B=1e9,2"]) == 2
    assert "no metrics tables" in capsys.readouterr().err


def run(argv, capsys) -> tuple[int, str]:
    """`taskladder ARGV` in this process: (exit status, what it printed to stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    return code, capsys.readouterr().err


def metrics_table(run: str, n: int, steps=(10, 20, 30)) -> pd.DataFrame:
    return pd.DataFrame([{"run": run, "n": n, "step": s, "tokens": 1000 * s, "task": "piqa", "task_loss": 1.0 - s / 100,
                          "acc": 0.3 + s / 200, "task_ce": 0.7, "lm_loss": 3.0 - s / 50} for s in steps])


@pytest.mark.parametrize("command", ["fit", "plan"])
@pytest.mark.parametrize("name", ["a/b", "7B ", "..", "mödel"])
def test_a_target_name_that_cannot_name_a_file_is_refused(command, name, tmp_path, capsys):
    """It names the target's metrics file and, in a plan, the key of its config, which `taskladder check` refuses."""
    code, err = run([command, tmp_path, "--target", f"{name}=7e9,1e12", "-o", tmp_path / "out"], capsys)
    assert code == 2 and f"argument --target: {name}=7e9,1e12: target name {name!r} cannot name a file" in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["", "a/b", "a b"])
def test_an_imported_run_name_that_cannot_name_a_file_is_refused(name, tmp_path, capsys):
    """An empty name wrote a table whose every row had no run; the name names the run's metrics file."""
    log = tmp_path / "log.csv"
    log.write_text("_step,batch_size_in_tokens\n1,4096\n")
    code, err = run(["import", log, "--run", name, "--n", "5000", "-o", tmp_path / "r.csv"], capsys)
    assert code == 2 and f"argument --run: run name {name!r} cannot name a file; expected letters" in err, err
    assert not (tmp_path / "r.csv").exists()


def test_a_parameter_count_beyond_64_bits_is_refused(tmp_path, capsys):
    """The metrics table holds N as a 64-bit integer: the import stopped on an OverflowError's traceback."""
    log = tmp_path / "log.csv"
    log.write_text("_step,batch_size_in_tokens\n1,4096\n")
    code, err = run(["import", log, "--run", "r", "--n", "1e30", "-o", tmp_path / "r.csv"], capsys)
    assert code == 2 and "argument --n: expected a whole number below 2^63 (a 64-bit integer), found '1e30'" in err, err


@pytest.mark.parametrize("draws, expected", [("3", "3 is less than the minimum of 8"),
                                             ("1e30", "1000000000000000019884624838656 is greater than the maximum "
                                                      "of 10000")])
def test_plan_draws_outside_the_range_of_planner_draws(draws, expected, tmp_path, capsys):
    code, err = run(["plan", "--target", "7B=7e9,1e12", "--draws", draws, "-o", tmp_path / "out"], capsys)
    assert code == 2 and f"invalid --draws: planner.draws: {expected}" in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_fit_needs_ladder_runs_beside_the_targets(tmp_path, capsys):
    metrics_table("c", 3000).to_csv(tmp_path / "c.csv", index=False)
    code, err = run(["fit", tmp_path, "--target", "c=3000,1e6", "-o", tmp_path / "out"], capsys)
    assert code == 2 and f"{tmp_path}: only the metrics of --target c; expected ladder runs' tables" in err, err


def test_a_target_run_in_a_ladder_table_is_refused(tmp_path, capsys):
    """Fitted as a rung, the target predicted itself, with no actuals and no error."""
    table = tmp_path / "all.csv"
    pd.concat([metrics_table(r, n) for r, n in (("a", 1000), ("b", 2000), ("c", 3000))]).to_csv(table, index=False)
    code, err = run(["fit", table, "--target", "c=3000,1e6", "-o", tmp_path / "out"], capsys)
    assert code == 2 and (f"{table}: a ladder table holds run c, named like --target c; expected the target's metrics "
                          "in a file of their own, c.csv") in err, err
    assert not (tmp_path / "out" / "predictions.csv").exists()


@pytest.mark.parametrize("seed", ["-1", "1.5", "x"])
def test_an_example_seed_that_is_not_a_whole_number_from_0_is_refused(seed, tmp_path, capsys):
    """-1 ended in numpy's 'expected non-negative integer', which named neither the option nor the value."""
    code, err = run(["example", tmp_path / "ex", "--seed", seed], capsys)
    assert code == 2 and f"argument --seed: expected a whole number >= 0, found {seed!r}" in err, err
    assert not (tmp_path / "ex").exists()


def test_a_budget_from_the_config_is_named_by_its_key(tmp_path, capsys):
    code, err = run(["plan", "--target", "7B=7e9,1e12", "--config", "planner.budget=2", "-o", tmp_path / "out"], capsys)
    assert code == 2 and "error: planner.budget 2: as a fraction of the target's compute it must be in (0, 1]" in err


def test_an_ensemble_without_its_members_is_refused(tmp_path, capsys):
    for run_, n in (("a", 1000), ("b", 2000)):
        metrics_table(run_, n).to_csv(tmp_path / f"{run_}.csv", index=False)
    code, err = run(["fit", tmp_path, "--config", "methods={two_step: {}, ens: {ensemble: {members: [two_step]}}}",
                     "--method", "ens", "-o", tmp_path / "out"], capsys)
    assert code == 2 and ("--method ens: an ensemble of ['two_step'], none of which is fitted here; expected some of "
                          "them as --method too") in err, err
