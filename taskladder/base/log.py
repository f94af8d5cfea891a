"""Logging and the frame every workflow script runs in (one-line errors, a log file per job)."""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path


def setup_logging(path: str | Path | None = None) -> logging.Logger:
    """Log to stderr and, when given, to a file (a Snakemake rule's log)."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", handlers=handlers, force=True)
    return logging.getLogger("taskladder")


@contextmanager
def script(snakemake):
    """The frame of every workflow script: logs to the rule's log file, ends a job that meets a bad
    input or an environment problem (ValueError, OSError) with one line naming it (exit status 1)
    instead of a traceback, and logs the job's CPU and wall time when it is done. Yields the logger."""
    log = setup_logging(snakemake.log[0] if snakemake.log else None)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield log
        log.info("%s: done in %.2f s (%.2f s of CPU)", snakemake.rule, time.perf_counter() - wall,
                 time.process_time() - cpu)
    except (ValueError, OSError) as e:
        if isinstance(e, UnicodeDecodeError):  # its message names no file
            e = f"{', '.join(map(str, snakemake.input))}: not UTF-8 text ({e.reason} at byte {e.start})"
        log.error("%s: %s", snakemake.rule, e)
        sys.exit(1)
