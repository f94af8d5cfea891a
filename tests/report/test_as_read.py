"""The report as a person reads it: the first page's lead lines (with groups), and the figures' legends, units and
annotations, checked on matplotlib's objects (no pixel comparison)."""
import numpy as np
import pandas as pd
import pytest
from conftest import EVIDENCE, intervals
from matplotlib.colors import to_rgb

from taskladder.analyses.groups import group_ranking
from taskladder.base.config import paper_methods, validate
from taskladder.base.files import write_csv
from taskladder.fit.methods import FitJob, MethodResult, fit_options, run_fit_job
from taskladder.report import analysis_figures, figures, page
from taskladder.synthetic.ladders import ladder_truth
from taskladder.synthetic.truth import TARGET

# ---- the first page ----------------------------------------------------------------------------------------------


def ranking_row(**changes) -> dict:
    row = {"method": "m", "target": "7B", "task": "hellaswag", "winner": "curated", "runner_up": "web",
           "winner_acc": 0.75, "runner_up_acc": 0.727, "margin_points": 2.3, "win_share": 0.94, "draws": 200,
           "ranked": 2, "left_out": "", "decision_accuracy": np.nan, "pairs": 0, "backtest_decision_accuracy": 5 / 6,
           "backtest_pairs": 6, "note": ""}
    return row | changes


@pytest.mark.parametrize("changes, line", [
    ({}, "On hellaswag at 7B, curated wins by 2.3 points (in 94% of draws); decision accuracy on backtests 83%"),
    ({"decision_accuracy": 1.0, "pairs": 3, "win_share": 0.9999},
     "On hellaswag at 7B, curated wins by 2.3 points (in >99% of draws); decision accuracy on backtests 83%, "
     "and 100% as measured at 7B"),
    ({"draws": 0, "win_share": np.nan, "backtest_pairs": 0, "margin_points": 0.01},
     "On hellaswag at 7B, curated wins by less than 0.1 points"),
    ({"winner": "", "runner_up": "", "margin_points": 0.0, "win_share": np.nan, "note": "tie: curated, web at 75.0%"},
     "On hellaswag at 7B, curated and web tie at 75.0%; decision accuracy on backtests 83%"),
    ({"winner_flags": "wide_interval;noisy"},
     "On hellaswag at 7B, curated wins by 2.3 points (in 94% of draws); decision accuracy on backtests 83%; "
     "curated flagged: wide_interval, noisy"),
    ({"left_out": "code, math", "note": "left out: code (at_chance), math (bounded)"},
     "On hellaswag at 7B, curated wins by 2.3 points (in 94% of draws); decision accuracy on backtests 83%; "
     "left out: code (at chance), math (no trend, bounded)"),
    ({"winner": "", "runner_up": "", "margin_points": np.nan, "ranked": 1, "left_out": "code",
      "note": "only curated can be ranked; left out: code (at_chance)"},
     "On hellaswag at 7B, only curated can be predicted: no ranking; decision accuracy on backtests 83%; "
     "left out: code (at chance)"),
])
def test_lead_line(changes, line):
    assert page.lead_line(pd.Series(ranking_row(**changes))) == line


def test_first_page_with_groups_leads_with_the_answer_then_the_table_then_the_figures(tmp_path):
    predictions = pd.DataFrame({"method": "m", "target": ["7B"] * 3, "task": "hellaswag",
                                "group": ["web", "curated", "code"], "pred_acc": [0.727, 0.75, np.nan],
                                "actual_acc": np.nan, "flags": ["", "", "at_chance"], "n": 7e9, "d": 1e12})
    ranking = group_ranking(predictions)
    figure = tmp_path / "group_comparison.png"
    figure.write_bytes(b"\x89PNG fake")
    text = page.first_page(predictions, "m", [figure], "sweep", ranking)
    assert "<li>On hellaswag at 7B, curated wins by 2.3 points; left out: code (at chance)</li>" in text, text
    assert text.index("Which group wins") < text.index('<table class="predictions">') < text.index("<img")
    # the table: the groups of a target and task best first, the one at chance last with no error computed
    rows = text[text.index("<tbody>"):]
    assert rows.index("<td>curated</td>") < rows.index("<td>web</td>") < rows.index("<td>code</td>")
    assert "nan" not in rows
    plain = page.first_page(predictions.drop(columns="group").iloc[:1], "m", [], "plain")
    assert "Which group wins" not in plain


@pytest.mark.parametrize("share, text", [(1.0, "100%"), (0.996, ">99%"), (0.94, "94%"), (0.001, "<1%"), (0.0, "0%"),
                                         (np.nan, "")])
def test_share_text(share, text):
    assert page.share_text(share) == text


# ---- figures: every colour in a legend, accuracy in percent, no annotation over the data ---------------------------

def grey(rgb) -> bool:
    return max(rgb) - min(rgb) < 1e-6  # black, greys, white: structure, not an encoding


def data_colours(fig) -> set:
    """The colours that encode something in the panels: scatter faces and coloured lines."""
    found = set()
    for ax in fig.axes:
        for line in ax.lines:
            found.add(to_rgb(line.get_color()))
        for coll in ax.collections:
            if hasattr(coll, "get_offsets") and type(coll).__name__ == "PathCollection":
                found |= {tuple(np.round(c[:3], 6)) for c in coll.get_facecolors()}
    return {tuple(np.round(c, 6)) for c in found if not grey(c)}


def legend_colours(fig) -> set:
    found = set()
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    for legend in legends:
        for h in legend.legend_handles:
            for get in ("get_color", "get_markerfacecolor", "get_markeredgecolor", "get_facecolor"):
                if hasattr(h, get):
                    value = getattr(h, get)()
                    for c in (np.atleast_2d(value) if not isinstance(value, str) else [value]):
                        found.add(tuple(np.round(to_rgb(c if isinstance(c, str) else tuple(c)), 6)))
    return found


def assert_readable(fig):
    """Every colour has a legend; annotations (texts in a panel's coordinates) lie outside the data area."""
    missing = data_colours(fig) - legend_colours(fig)
    assert not missing, f"colours without a legend: {missing}"
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        area = ax.get_window_extent(renderer)
        for text in ax.texts:
            if text.get_text().strip():
                box = text.get_window_extent(renderer)
                assert not box.overlaps(area), f"{text.get_text()!r} lies over the data of {ax.get_title()!r}"


def accuracy_axes_in_percent(fig) -> int:
    """How many axes label accuracy; each shows it in percent (0.7 -> '70')."""
    count = 0
    for ax in fig.axes:
        for axis, label in ((ax.yaxis, ax.get_ylabel()), (ax.xaxis, ax.get_xlabel())):
            if "accuracy" in label and "points" not in label:
                assert "(%)" in label and axis.get_major_formatter()(0.7, 0) == "70", label
                count += 1
    return count


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """two_step fitted on a small synthetic ladder where arc_easy stays at chance (flagged as the summary flags it)."""
    tmp = tmp_path_factory.mktemp("fit")
    truth = ladder_truth(("piqa", "arc_easy"), checkpoints=4, groups=["web"], at_chance={"web": ("arc_easy",)})
    write_csv(truth.drop(columns="group"), tmp / "ladder.csv")
    options = fit_options(validate({"experiment": "test"})) | {"multistart": 0}
    targets = {"7B-4T": {"n": TARGET[1], "d": TARGET[2], "flops": None}}
    job = FitJob("two_step", paper_methods()["two_step"], ["piqa", "arc_easy"], options, intervals(draws=20),
                 EVIDENCE, targets)
    result = run_fit_job(job, [tmp / "ladder.csv"], [], [], {t: tmp / f"{t}.csv" for t in MethodResult.TABLES})
    chance = result.predictions["task"] == "arc_easy"  # as the summary tables write it: flagged, no prediction
    predictions = result.predictions.assign(flags=np.where(chance, "at_chance", ""))
    predictions.loc[chance, ["pred_acc", "pred_lo", "pred_hi", "abs_error"]] = np.nan
    return result.fits, predictions, result.points


@pytest.mark.parametrize("name", ["step1", "step2", "chained"])
def test_method_figures_have_legends_percent_and_keep_annotations_off_the_data(fitted, name):
    fits, predictions, points = fitted
    fig = figures.FIGURES[name](fits, predictions, points, ["piqa", "arc_easy"])
    assert fig.legends, "the model sizes' colours need a legend"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"190M", "1.28B", "target actual"} <= set(labels), labels
    assert accuracy_axes_in_percent(fig) == (0 if name == "step1" else 2)
    assert_readable(fig)
    if name == "chained":  # the table of each target's prediction sits under the axes
        table = [t for t in fig.axes[0].texts if "7B-4T" in t.get_text()]
        assert table and table[0].get_window_extent().y1 < fig.axes[0].get_window_extent().y0
        assert "nan" not in " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


@pytest.fixture
def drawn(monkeypatch):
    """The figures the analysis functions draw, kept instead of saved."""
    kept = []
    monkeypatch.setattr(analysis_figures, "_save", lambda fig, *a, **k: kept.append(fig))
    monkeypatch.setattr(figures, "_save", lambda fig, *a, **k: kept.append(fig))
    return kept


def test_group_comparison_figure_answers_per_target_and_task(drawn, tmp_path):
    rows = []
    for target, n in (("3B", 3e9), ("7B", 7e9)):
        for task in ("piqa", "hellaswag"):
            # code shows no trend on hellaswag: its number (above the others) is only a bound
            for group, acc in (("curated", 0.75), ("web", 0.72), ("code", 0.9 if task == "hellaswag" else 0.6)):
                bound = group == "code" and task == "hellaswag"
                rows.append({"method": "m", "target": target, "task": task, "group": group, "pred_acc": acc,
                             "pred_lo": acc - 0.02, "pred_hi": acc + 0.02, "n": n, "d": 20 * n,
                             "actual_acc": acc + 0.01 if target == "3B" else np.nan,
                             "flags": "bounded;non_monotone" if bound else ""})
    predictions = pd.DataFrame(rows)
    from taskladder.analyses.groups import compare
    table = compare(predictions, pd.DataFrame())
    ranking = group_ranking(predictions, None, table)
    analysis_figures.group_comparison_figure(table, "m", tmp_path / "g.png", ranking)
    fig = drawn[-1]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["curated", "web", "code", "interval", "actual"]
    assert accuracy_axes_in_percent(fig) == 2
    right = [label.get_text() for ax in fig.axes for label in ax.get_yticklabels() if "pts" in label.get_text()]
    assert right[0] == "curated +3.0 pts\nmeasured: 100% of pairs right"
    assert any("left out: code" in text for text in right)
    code = to_rgb(fig.legends[0].legend_handles[2].get_color())
    drawn_code = [c.get_offsets()[0] for ax in fig.axes for c in ax.collections
                  if len(c.get_facecolors()) and tuple(c.get_facecolors()[0][:3]) == code]
    assert len(drawn_code) == 2  # piqa at both targets; not hellaswag, where code's number is only a bound
    assert_readable(fig)
    assert all(label.get_fontsize() >= 8.5 for ax in fig.axes for label in ax.get_yticklabels())


def test_analysis_figures_have_legends(drawn, tmp_path):
    backtest = pd.DataFrame({"method": ["a", "a", "b", "b"], "task": "piqa", "distance": [0.1, 0.5, 0.1, 0.5],
                             "pred": [0.6, 0.62, 0.61, 0.6], "actual": [0.61, 0.6, 0.6, 0.6], "lo": 0.55, "hi": 0.65})
    analysis_figures.backtest_figure(backtest, tmp_path / "b.png")
    variance = pd.DataFrame({"task": ["piqa", "arc_easy"], "loss_rel_sd": [0.01, 0.02], "acc_rel_sd": [0.02, 0.01],
                             "loss_rel_sd_high": [False, True], "acc_rel_sd_high": [True, False], "checkpoints": 10,
                             "run": "1B-10xC"})
    analysis_figures.variance_figure(variance, tmp_path / "v.png")
    cve = pd.DataFrame({"order": "flops", "task": ["piqa", "piqa", "arc_easy", "arc_easy"],
                        "compute_fraction": [0.01, 0.02, 0.01, 0.02], "rel_error": [0.05, 0.03, 0.04, 0.02]})
    analysis_figures.compute_vs_error_figure(cve, "flops", tmp_path / "c.png")
    for fig in drawn:
        assert_readable(fig)
    analysis_figures.compute_vs_error_figure(pd.DataFrame(), "flops", tmp_path / "none.png")  # every fit failed
    assert (tmp_path / "none.png").stat().st_size > 1000  # a figure that says why it is empty


def test_a_ranking_read_back_reads_the_same(tmp_path, drawn):
    """analyses/group_ranking.csv read back (its empty text cells NaN) gives the same lines and figure labels."""
    predictions = pd.DataFrame({"method": "m", "target": "7B", "task": ["piqa"] * 3 + ["arc_easy"] * 3,
                                "group": ["a", "b", "c"] * 2, "pred_acc": [0.6, 0.7, 0.5, 0.4, 0.4, np.nan],
                                "flags": ["", "", "", "", "", "at_chance"], "n": 7e9, "d": 1e12})
    ranking = group_ranking(predictions)
    write_csv(ranking, tmp_path / "group_ranking.csv")
    read = pd.read_csv(tmp_path / "group_ranking.csv")
    assert page.lead_lines(read, "m") == page.lead_lines(ranking, "m") == [
        "On piqa at 7B, b wins by 10.0 points", "On arc_easy at 7B, a and b tie at 40.0%; left out: c (at chance)"]
    from taskladder.analyses.groups import compare
    labels = []
    for r in (ranking, read):
        analysis_figures.group_comparison_figure(compare(predictions, pd.DataFrame()), "m", tmp_path / "g.png", r)
        labels.append([t.get_text() for t in drawn[-1].axes[-1].get_yticklabels()])
    assert labels[0] == labels[1] == ["b +10.0 pts", "tie: a, b\nleft out: c"]
