"""Writes are atomic: a process killed while writing never leaves a file or folder a later rule trusts, and what
is written gets the permissions the user's umask gives."""
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from taskladder.base import files
from taskladder.base.files import atomic_dir, write_csv, write_text

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


def test_a_folder_appears_complete_or_not_at_all(tmp_path):
    out = tmp_path / "sub" / "tokenizer"
    with atomic_dir(out) as tmp:
        (tmp / "a.json").write_text("{}")
        assert tmp.parent == out.parent and not out.exists()  # filled beside its place, moved in at the end
    assert sorted(p.name for p in out.iterdir()) == ["a.json"]
    with pytest.raises(RuntimeError, match="killed"), atomic_dir(out) as tmp:
        (tmp / "b.json").write_text("{}")
        raise RuntimeError("killed")
    assert sorted(p.name for p in out.parent.iterdir()) == ["tokenizer"]  # the old one, no temporary
    assert sorted(p.name for p in out.iterdir()) == ["a.json"]
    with atomic_dir(out) as tmp:  # a complete new one replaces the old one whole
        (tmp / "c.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["c.json"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["tokenizer"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_folder_keeps_the_users_umask_and_links_their_targets(tmp_path, umask):
    target = tmp_path / "weights.bin"
    target.write_text("w")
    target.chmod(0o600)
    old = os.umask(umask)
    try:
        with atomic_dir(tmp_path / "ckpt") as tmp:
            fd = os.open(tmp / "private", os.O_CREAT | os.O_WRONLY, 0o600)  # as safetensors writes
            os.close(fd)
            (tmp / "link.bin").symlink_to(target)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "ckpt").stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((tmp_path / "ckpt" / "private").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # a link's target is not ours to change


def test_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        names = [f".step0000010.tmp-{dead_pid}", f".step0000020.old-{dead_pid}", f".step0000030.tmp-{alive.pid}",
                 f".step0000040.tmp-{os.getpid()}", "step0000050", ".hidden-1"]
        for name in names:
            (tmp_path / name).mkdir()
        removed = files.remove_stale_temporaries(tmp_path)
    finally:
        alive.kill()
        alive.wait()
    assert sorted(p.name for p in removed) == sorted(names[:2] + names[3:4])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names[2], "step0000050", ".hidden-1"])


def test_where_results_and_checkpoints_go():
    assert files.results_dir("tiny") == Path("results/tiny")
    assert files.checkpoint_dir("ckpts/r", 42).name == "step0000042"
    assert files.checkpoint_dir("ckpts/r", "{step}").name == "step{step}"  # a wildcard passes through
