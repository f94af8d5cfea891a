"""Resuming after Snakemake itself was killed (SIGKILL, the OOM killer, a closed terminal).

A killed Snakemake leaves its lock (.snakemake/locks) and the jobs it started, still running. Every
Snakemake that starts jobs records who holds the lock (host, process id, start time); at the next
start in the same folder, `recover` sees that this process is gone, stops the jobs it left running and
removes its stale lock, so that the same command resumes (outputs of interrupted jobs rerun:
`rerun-incomplete` in profiles/default). A lock held by a live Snakemake is left to Snakemake's own
error; one whose holder is unknown or on another host is left alone, with what to do.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import psutil

OWNER = "taskladder-lock-owner.json"


def record_owner(snakemake_dir: str | Path = ".snakemake") -> None:
    """Record this process as the holder of the lock (called once Snakemake has taken it)."""
    me = psutil.Process()
    info = {"host": socket.gethostname(), "pid": me.pid, "started": me.create_time()}
    (Path(snakemake_dir) / OWNER).write_text(json.dumps(info))


def _alive(info: dict) -> bool:
    try:
        return abs(psutil.Process(info["pid"]).create_time() - info["started"]) < 1e-3
    except psutil.NoSuchProcess:
        return False


def _stop_jobs(workdir: Path) -> int:
    """Stop the Snakemake jobs (script processes and what they started) running in `workdir`."""
    jobs = []
    for p in psutil.process_iter(["pid", "cmdline", "cwd"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        if p.info["cwd"] == str(workdir) and "/.snakemake/scripts/" in cmdline and p.pid != os.getpid():
            jobs += [p, *p.children(recursive=True)]
    for p in jobs:
        p.terminate()
    _, alive = psutil.wait_procs(jobs, timeout=10)
    for p in alive:
        p.kill()
    return len({p.pid for p in jobs})


def recover(snakemake_dir: str | Path = ".snakemake", log=print) -> None:
    """Clear the lock of a Snakemake that was killed in this folder (see the module's doc)."""
    snakemake_dir = Path(snakemake_dir)
    locks = sorted((snakemake_dir / "locks").glob("*.lock"))
    if not locks:
        return
    record = snakemake_dir / OWNER
    unlock = "if no Snakemake runs in this folder any more, run the same command with --unlock, then again without"
    if not record.exists() or record.stat().st_mtime < max(p.stat().st_mtime for p in locks):
        log(f"{snakemake_dir / 'locks'}: a lock whose holder is unknown; {unlock}")
        return
    info = json.loads(record.read_text())
    if info["host"] != socket.gethostname():
        log(f"{snakemake_dir / 'locks'}: locked by Snakemake process {info['pid']} on {info['host']}; {unlock}")
        return
    if _alive(info):
        return  # a Snakemake runs here: its lock stands, and Snakemake says so
    stopped = _stop_jobs(Path.cwd())
    shutil.rmtree(snakemake_dir / "locks")
    record.unlink()
    log(f"removed the lock of Snakemake process {info['pid']}, which was killed"
        + (f", and stopped the {stopped} job process(es) it left running" if stopped else "")
        + "; interrupted jobs rerun")
