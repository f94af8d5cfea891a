"""After Snakemake itself was killed: its stale lock cleared (and only then), so the same command resumes."""

import json
import socket
import subprocess
import sys

import psutil
import pytest

from taskladder.workflow import recovery


@pytest.fixture
def locked(tmp_path, monkeypatch):
    """A working folder whose .snakemake holds a lock."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".snakemake" / "locks").mkdir(parents=True)
    (tmp_path / ".snakemake" / "locks" / "0.input.lock").write_text("")
    return tmp_path / ".snakemake"


def owner(snakemake_dir, pid: int, host: str | None = None):
    info = {"host": host or socket.gethostname(), "pid": pid, "started": psutil.Process(pid).create_time()}
    (snakemake_dir / recovery.OWNER).write_text(json.dumps(info))


def test_the_lock_of_a_killed_snakemake_is_removed(locked):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    owner(locked, proc.pid)
    proc.kill()
    proc.wait()
    said = []
    recovery.recover(locked, log=said.append)
    assert not (locked / "locks").exists() and not (locked / recovery.OWNER).exists()
    assert said == [f"removed the lock of Snakemake process {proc.pid}, which was killed; interrupted jobs rerun"]


def test_a_live_snakemakes_lock_stands(locked):
    recovery.record_owner(locked)  # this process holds it
    said = []
    recovery.recover(locked, log=said.append)
    assert (locked / "locks" / "0.input.lock").exists() and said == []


def test_a_lock_of_unknown_or_remote_holders_is_left_with_what_to_do(locked):
    said = []
    recovery.recover(locked, log=said.append)
    assert (locked / "locks").exists() and "a lock whose holder is unknown" in said[0] and "--unlock" in said[0]
    owner(locked, psutil.Process().pid, host="elsewhere")
    (locked / "locks" / "0.input.lock").touch()
    recovery.recover(locked, log=said.append)
    assert (locked / "locks").exists() and "on elsewhere" in said[1]


def test_nothing_to_do_without_a_lock(tmp_path):
    said = []
    recovery.recover(tmp_path / ".snakemake", log=said.append)
    assert said == []
