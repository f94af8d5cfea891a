"""The plan of the fits, summaries, analyses and report: each method's job holds its own definition and the options
every fit reads; the headline method; which analyses run."""

from types import SimpleNamespace

from test_experiment import planned

from taskladder.base.config import validate
from taskladder.workflow.fitting import fit_options


def test_fit_options_are_the_fit_keys_but_the_tasks_and_the_seed():
    config = validate({"experiment": "t", "seed": 4, "evaluation": {"tasks": ["piqa", "corpus_cloze"],
                                                                     "corpus_cloze": {"choices": 5}}})
    options = fit_options(config)
    assert "tasks" not in options and options["seed"] == 4 and options["window"] == config["fit"]["window"]
    assert options["chance"]["corpus_cloze"] == 0.2  # 1 / its choices
    pinned = validate({"experiment": "t", "fit": {"chance": {"corpus_cloze": 0.3}},
                       "evaluation": {"tasks": ["corpus_cloze"]}})
    assert fit_options(pinned)["chance"]["corpus_cloze"] == 0.3


def test_a_method_job_changes_only_with_its_own_definition(monkeypatch):
    synthetic = planned("synthetic", monkeypatch)
    fits = synthetic.fits
    assert fits.fitted == ["two_step", "flops", "taskce", "lm_loss", "single_step", "flp"]
    assert fits.ensembles == ["ensemble"] and fits.members("ensemble")
    w = SimpleNamespace(method="taskce")
    job = fits.fit_job(w)
    assert job["method"] == "taskce" and job["spec"] == synthetic.config["methods"]["taskce"]
    assert job["targets"] == {"7B-4T": {"d": 3945065873408, "flops": None, "n": 6887575552}} and job["group"] is None
    methods = {**synthetic.config["methods"], "two_step": {**synthetic.config["methods"]["two_step"],
                                                           "fit": {"window": 7}}}
    assert planned("synthetic", methods=methods).fits.fit_job(w) == job
    assert planned("synthetic", seed=1).fits.fit_job(w) != job
    inputs = fits.fit_inputs(w)
    assert inputs["targets"] == ["results/synthetic/metrics/7B-4T.csv"] and len(inputs["ladder"]) == 16


def test_the_summary_and_the_ensemble_gather_every_method(monkeypatch):
    fits = planned("synthetic", monkeypatch).fits
    inputs = fits.summary_inputs
    assert len(inputs["predictions"]) == 7 and inputs["weights"] == [fits.tables("ensemble")["weights"]]
    assert fits.summary_job()["groups"] is None
    ensemble = fits.ensemble_inputs(SimpleNamespace(method="ensemble"))
    assert ensemble["predictions"] == [fits.tables(m)["predictions"] for m in fits.members("ensemble")]


def test_the_headline_method_and_the_analyses(monkeypatch):
    synthetic = planned("synthetic", monkeypatch)
    assert synthetic.fits.headline_method == "ensemble"
    assert synthetic.fits.headline_figures[0] == synthetic.layout.figure("ensemble", "members")
    assert set(synthetic.fits.analyses) == {"variance", "backtest", "compute_vs_error"}
    assert synthetic.fits.cve_target == "7B-4T"
    cve = {**synthetic.config["analyses"]["compute_vs_error"], "method": "taskce"}
    one = planned("synthetic", methods={"taskce": synthetic.config["methods"]["taskce"]},
                  intervals={**synthetic.config["intervals"], "draws": 0},
                  analyses={**synthetic.config["analyses"], "compute_vs_error": cve})
    assert one.fits.headline_method == "taskce" and "backtest" not in one.fits.analyses
    assert one.fits.report_job() == {"experiment": "synthetic", "method": "taskce"}
    assert one.fits.headline_figures == [one.layout.figure("taskce", "chained"), one.layout.figure("taskce", "step1")]
