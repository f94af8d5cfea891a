"""Writes are atomic: a process killed while writing never leaves a file a later rule trusts."""
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from taskladder.base.files import write_csv, write_text

ROWS = 200_000
WRITER = f"""
import sys
import numpy as np, pandas as pd
sys.path.insert(0, {str(ROOT)!r})
from taskladder.base.files import write_csv, write_text
k = 0
while True:  # rewrite the table forever, each version distinguishable
    write_csv(pd.DataFrame({{"version": k, "value": np.arange({ROWS})}}), sys.argv[1])
    print(k, flush=True)
    k += 1
"""


def test_a_killed_writer_leaves_the_old_table_or_the_new_one(tmp_path):
    path = tmp_path / "metrics.csv"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()  # one complete version exists
    time.sleep(0.3)  # now, most likely, in the middle of another
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    table = pd.read_csv(path)
    assert len(table) == ROWS and table["version"].nunique() == 1
    assert (table["value"].to_numpy() == np.arange(ROWS)).all()


def test_a_failed_write_leaves_nothing(tmp_path):
    class Broken(pd.DataFrame):
        def to_csv(self, *args, **kwargs):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_csv(Broken({"a": [1]}), tmp_path / "out.csv")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_writes_keep_the_users_umask(tmp_path, umask):
    """Collaborators on a shared file system read what the workflow writes (not tempfile's 0600)."""
    old = os.umask(umask)
    try:
        write_csv(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
        write_text("x", tmp_path / "sub" / "t.txt")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t.csv").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "sub" / "t.txt").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) == 0o777 & ~umask


def test_run_flops_prefers_what_a_run_logged():
    from taskladder.base.metrics_table import run_flops

    assert run_flops(2.0, 10.0) == 120.0 and run_flops(2.0, 10.0, 500.0) == 500.0
    np.testing.assert_allclose(run_flops([2.0, 2.0, 2.0], [10.0] * 3, [500.0, np.nan, 0.0]), [500, 120, 120])
