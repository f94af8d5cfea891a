"""The frame every workflow script runs in: its rule's log file, and a bad input ending the job in one line."""

from types import SimpleNamespace

import pytest

from taskladder.base.log import script


def job(tmp_path, inputs=()):
    return SimpleNamespace(log=[str(tmp_path / "logs" / "rule.log")], rule="fit_method", input=list(inputs))


def test_a_bad_input_ends_the_job_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as end, script(job(tmp_path)) as log:
        log.info("reading")
        raise ValueError("metrics/a.csv: row 3, column 'acc': expected a number")
    assert end.value.code == 1
    written = (tmp_path / "logs" / "rule.log").read_text()
    assert "reading" in written and "fit_method: metrics/a.csv: row 3, column 'acc'" in written
    assert "Traceback" not in written and "Traceback" not in capsys.readouterr().err


def test_text_that_is_not_utf8_names_the_inputs(tmp_path):
    with pytest.raises(SystemExit), script(job(tmp_path, ["logs/run.csv"])):
        b"\xe9".decode("utf-8")
    written = (tmp_path / "logs" / "rule.log").read_text()
    assert "fit_method: logs/run.csv: not UTF-8 text (unexpected end of data at byte 0)" in written


def test_a_bug_is_not_hidden(tmp_path):
    with pytest.raises(KeyError), script(job(tmp_path)):  # a bug: its traceback, not one line
        raise KeyError("a bug")
