"""The README's numbers are rendered from runs: blocks found, rendered from a results folder, compared and rewritten.
(The slow workflow tests compare the README's blocks with the runs they make: tests/end_to_end/test_workflow.py.)"""

import numpy as np
import pandas as pd
import pytest

from taskladder.base.files import write_csv
from taskladder.report import readme
from taskladder.report.readme import BLOCKS, NAMES, differences, render, write


def paper_results(folder, shift: float = 0.0):
    """A results folder with the paper import's predictions: two methods, the 8 tasks at 7B-4T."""
    rows = []
    for i, task in enumerate(NAMES):
        for method, pred in (("two_step", 0.50 + 0.01 * i), ("ensemble", 0.52 + 0.01 * i + shift)):
            rows.append({"method": method, "task": task, "target": "7B-4T", "pred_acc": pred, "pred_lo": pred - 0.04,
                         "pred_hi": pred + 0.04, "actual_acc": 0.53 + 0.01 * i, "distance": 1.5,
                         "flags": "wide_interval" if task == "mmlu" and method == "two_step" else np.nan})
    write_csv(pd.DataFrame(rows), folder / "olmo-paper" / "predictions.csv")
    return folder


def test_a_block_is_rendered_from_its_run(tmp_path):
    text = render(paper_results(tmp_path), ["paper"])["paper"]
    assert "| MMLU | 50.0 [46.0, 54.0] | 48.4 | wide_interval | 52.0 [48.0, 56.0] | 53.0 |  |" in text
    assert "`two_step` 3.00 points" in text and "`ensemble` 1.00" in text and "hold the actual on 8 of 8" in text
    assert "1.50 decades" in text


def test_the_check_finds_a_stale_number_and_write_fixes_it(tmp_path):
    results = paper_results(tmp_path / "results")
    page = tmp_path / "README.md"
    page.write_text("intro\n<!-- readme:paper -->\n<!-- /readme:paper -->\nafter\n")
    assert set(differences(page.read_text(), render(results, ["paper"]))) == {"paper"}
    assert readme.main(["--results", str(results), "--readme", str(page), "--write", "paper"]) == 0
    assert readme.main(["--results", str(results), "--readme", str(page), "paper"]) == 0
    text = page.read_text()
    assert text.startswith("intro\n<!-- readme:paper -->\n| task |") and text.endswith("after\n")
    paper_results(results, shift=0.002)  # a fresh run that moved the ensemble by 0.2 points
    assert readme.main(["--results", str(results), "--readme", str(page), "paper"]) == 1
    assert readme.main(["--results", str(results), "--readme", str(page), "--check", "paper"]) == 1
    rewritten = write(page.read_text(), render(results, ["paper"]))
    assert "52.2 [48.2, 56.2]" in rewritten and not differences(rewritten, render(results, ["paper"]))


def test_blocks_whose_source_is_absent_are_skipped(tmp_path):
    assert render(tmp_path) == {}
    assert readme.main(["--results", str(tmp_path), "--readme", str(tmp_path / "none.md")]) == 1


def test_the_readme_holds_every_block():
    text = readme.README.read_text()
    found = {m["name"] for m in readme.MARK.finditer(text)}
    assert found == set(BLOCKS)


def test_an_unknown_block_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        readme.main(["--results", str(paper_results(tmp_path)), "papers"])
    assert exit.value.code == 2 and "no block named papers" in capsys.readouterr().err
