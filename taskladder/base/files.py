"""Files between workflow stages: where an experiment's results go, and writes that are atomic and keep
the user's umask (a killed job never leaves a file or folder a later rule trusts).

A file is written under a temporary name next to it (`atomic_path`, `write_csv`, `write_text`), a folder (a
checkpoint, a tokenizer) in a temporary folder next to it (`atomic_dir`); either is renamed onto its place only
when complete, and removed when the block fails. What a killed process left behind is named after it
(`.{name}.tmp-{pid}`), so `remove_stale_temporaries` can tell a dead writer's leftovers from a live one's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import psutil


def results_dir(experiment: str) -> Path:
    """results/{experiment}/: every output of an experiment lies below it."""
    return Path("results") / experiment


MAX_STEP = 9_999_999  # the largest step a checkpoint folder's name step{step:07d} holds (the workflow's wildcard)


def checkpoint_dir(run_dir: str | Path, step: int | str) -> Path:
    """A run's checkpoint of `step`: {run_dir}/step{step:07d} (a wildcard string such as "{step}" passes through)."""
    return Path(run_dir) / (f"step{step:07d}" if isinstance(step, int) else f"step{step}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def share_as_umask(folder: str | Path) -> None:
    """Give every file below `folder` the permissions the user's umask gives a new file (writers such as
    safetensors create 0600 temporaries and rename them). Links are left alone (and so are their targets)."""
    mode = 0o666 & ~_umask()
    for parent, _, files in os.walk(folder):
        for name in files:
            path = Path(parent, name)
            if not path.is_symlink():
                path.chmod(mode)


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.
    The file gets the permissions a plain open() would give it (the user's umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _temporary(path: Path, kind: str, pid: int | None = None) -> Path:
    """Where a writer (process `pid`, default this one) keeps `path` while writing it (`tmp`) or while replacing it
    (`old`): a hidden sibling named after the process."""
    return path.parent / f".{path.name}.{kind}-{os.getpid() if pid is None else pid}"


@contextmanager
def atomic_dir(path: str | Path):
    """Yield an empty temporary folder next to `path` to fill; when the block succeeds it replaces `path` (whatever
    was there), when it fails it is removed, so `path` is only ever absent, the old folder or the complete new one.
    The folder and the files in it get the permissions the user's umask gives (links keep their targets')."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = _temporary(path, "tmp"), _temporary(path, "old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        share_as_umask(tmp)
        if path.exists():  # e.g. a rerun after the rename but before Snakemake saw the job finish
            shutil.rmtree(old, ignore_errors=True)
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove what killed `atomic_dir` writers left in `folder`: the temporaries of processes that are gone (and
    this process's own). Returns what was removed."""
    removed = []
    for p in Path(folder).glob(".*"):
        name, sep, pid = p.name.rpartition("-")
        if not (sep and pid.isdigit() and name.rsplit(".", 1)[-1] in ("tmp", "old")):
            continue
        if int(pid) == os.getpid() or not psutil.pid_exists(int(pid)):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def write_csv(frame: pd.DataFrame, path: str | Path, **kwargs) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, **kwargs)


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
