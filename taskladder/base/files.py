"""Files between workflow stages: where an experiment's results go, and writes that are atomic and keep
the user's umask (a killed job never leaves a file a later rule trusts)."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


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
    safetensors create 0600 temporaries and rename them)."""
    mode = 0o666 & ~_umask()
    for p in Path(folder).rglob("*"):
        if p.is_file():
            p.chmod(mode)


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


def write_csv(frame: pd.DataFrame, path: str | Path, **kwargs) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, **kwargs)


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def concat_csv(paths, out: str | Path) -> pd.DataFrame:
    """Concatenate CSV tables with the same meaning into one (atomically written)."""
    frame = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    write_csv(frame, out)
    return frame
