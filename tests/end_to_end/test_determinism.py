"""The same inputs give the same predictions, intervals, backtests and ensemble weights whatever the BLAS kernel,
the thread count or the order of the runs and rows (to 1e-6; in fact to the bit)."""
import io
import os
import subprocess
import sys

import numpy as np
import pandas as pd
from conftest import PAPER_LOGS, ROOT

# the fits that moved between machines before: TaskCE OpenBookQA and single-step CSQA
PROBE = """
import sys
import numpy as np, pandas as pd
from taskladder.base.config import load_config
from taskladder.fit.methods import evidence_options, fit_options, run_method
from taskladder.imports.tables import read_olmo_ladder
shuffle, logs = sys.argv[1] == "shuffle", sys.argv[2]
tasks = ["csqa", "openbookqa"]
config = load_config(sys.argv[3])
runs = [(name, spec) for name, spec in config["imported"].items() if spec.get("ladder", True)]
frames = [read_olmo_ladder(f"{logs}/{spec['file']}", name, spec["n"], tasks) for name, spec in runs]
if shuffle:
    order = np.random.default_rng(7).permutation(len(frames))
    frames = [frames[i].sample(frac=1, random_state=int(i)) for i in order]
ladder = pd.concat(frames, ignore_index=True)
target = {"n": 6887575552, "d": 3945065873408}
out, results = [], {}
intervals = {**config["intervals"], "draws": 4}
for method in ("taskce", "single_step"):
    r = results[method] = run_method(method, config["methods"][method], ladder, {"7B-4T": target}, tasks,
                                     fit_options(config), intervals, evidence_options(config))
    out += [r.predictions, r.backtest.drop(columns=["covered"]), r.calibration]
from taskladder.fit.ensemble import combine, scales
cat = lambda t: pd.concat([getattr(r, t) for r in results.values()], ignore_index=True)
ens, weights = combine(cat("predictions"), cat("backtest"), cat("draws"), scales(cat("calibration")), list(results),
                       "ensemble", {"weighting": "stacking", "shrink": 4}, intervals, [])
out += [ens.predictions, ens.backtest.drop(columns=["covered"]), weights]
pd.concat(out).to_csv(sys.stdout, index=False, float_format="%.17g")
"""

VARIANTS = {"default": ({}, "keep"), "Haswell, 1 thread": ({"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1"}, "keep"),
            "Sandybridge, 2 threads": ({"OPENBLAS_CORETYPE": "Sandybridge", "OPENBLAS_NUM_THREADS": "2"}, "keep"),
            "Prescott, 1 thread": ({"OPENBLAS_CORETYPE": "Prescott", "OPENBLAS_NUM_THREADS": "1"}, "keep"),
            "runs and rows shuffled": ({}, "shuffle")}


def _run(env: dict, order: str, logs, config) -> pd.DataFrame:
    proc = subprocess.run([sys.executable, "-c", PROBE, order, str(logs), str(config)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return pd.read_csv(io.StringIO(proc.stdout))


def test_fits_do_not_depend_on_blas_threads_or_order(tmp_path):
    if (PAPER_LOGS / "1B-10xC.csv").exists():
        logs, config = PAPER_LOGS, ROOT / "configs" / "olmo-paper-import.yaml"
    else:  # the bundled synthetic ladder
        logs, config = ROOT / "examples" / "synthetic-ladder", ROOT / "configs" / "synthetic.yaml"
    outputs = {name: _run(env, order, logs, config) for name, (env, order) in VARIANTS.items()}
    base = outputs.pop("default")
    numeric = base.select_dtypes("number").columns
    assert len(base) > 20 and base["pred_lo"].notna().any()
    for name, out in outputs.items():
        assert list(out.columns) == list(base.columns), name
        a, b = base[numeric].to_numpy(dtype=float), out[numeric].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), name
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6, equal_nan=True, err_msg=name)
