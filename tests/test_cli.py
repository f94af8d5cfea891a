import pandas as pd

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
    assert main(["fit", str(tmp_path), "--target", "7B=1,2"]) == 2
    assert "no metrics tables" in capsys.readouterr().err
