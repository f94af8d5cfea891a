"""The workflow on a real SLURM cluster: one node on localhost (tests/end_to_end/slurm/cluster.sh), driven by
profiles/slurm. Every job goes through sbatch, sacct records it, a pre-empted and a crashed training job
resume from their checkpoints, and the results equal a local run's.
Run with `pytest -m slurm` (needs root; installs Debian's slurm-wlm, munge and mariadb when missing)."""
import importlib.util
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT
from test_workflow import SNAKEMAKE

pytestmark = pytest.mark.slurm

CLUSTER = ROOT / "tests" / "end_to_end" / "slurm" / "cluster.sh"
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
SMOKE = ROOT / "configs" / "smoke.yaml"
RESULTS = Path("results") / "smoke"
# what the train jobs ask for, so that sacct shows the config's `resources` reached sbatch
TRAIN_RESOURCES = "resources={train: {partition: train, mem_mb: 1500, runtime: 30}}"
# --cores: the node's CPUs, the most one submission (a group of evaluation jobs) may ask for; the first
# status check after 5 s instead of the plugin's 40 keeps the test short
ON_SLURM = ["--profile", str(ROOT / "profiles" / "slurm"), "--cores", str(os.cpu_count()),
            "--slurm-init-seconds-before-status-checks", "5"]
# interrupted once they have written a checkpoint: a pre-emption (what SLURM does to a pre-empted job
# submitted with --requeue) and a crash of the training process (the job fails; `retries` resubmits it)
PREEMPT, CRASH = "t1-0.1xC", "s3-0.2xC"


@pytest.fixture(scope="module")
def slurm_env(tmp_path_factory):
    """A running single-node SLURM cluster; yields the environment its client commands need."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("the package snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')")
    if os.geteuid() != 0:
        pytest.skip("starting munged, slurmdbd, slurmctld and slurmd (tests/end_to_end/slurm/cluster.sh) needs root")
    if not (shutil.which("sbatch") or shutil.which("apt-get")):
        pytest.skip("SLURM is not installed and there is no apt-get to install Debian's slurm-wlm")
    if SYSTEM_CONF.exists() and not SYSTEM_CONF.is_symlink():
        pytest.skip(f"{SYSTEM_CONF} exists: this machine has its own SLURM, which the test cluster would replace")
    state = tmp_path_factory.mktemp("slurm")
    try:
        proc = subprocess.run(["bash", str(CLUSTER), "start", str(state)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"the SLURM test cluster did not come up ({CLUSTER} start {state}):\n"
                        f"{proc.stdout}\n{proc.stderr}", pytrace=False)
        yield {**os.environ, "SLURM_CONF": str(state / "slurm.conf")}
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop", str(state)], check=True)


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    return [*SNAKEMAKE, *args, "--directory", str(workdir), "--configfile", str(SMOKE)]


def snakemake(workdir: Path, *args: str, env: dict | None = None) -> str:
    proc = subprocess.run(snakemake_cmd(workdir, *args), capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}")
    return proc.stdout + proc.stderr


def sacct(env: dict) -> list[dict]:
    """Every record of every job (a requeued job has one per start), in the order they started."""
    fields = ["JobID", "State", "Partition", "ReqMem", "Timelimit", "Comment"]
    out = subprocess.run(["sacct", "--allocations", "--duplicates", "--parsable2", "--noheader",
                          "--starttime", "2000-01-01", "--format", ",".join(fields)],
                         capture_output=True, text=True, env=env, check=True).stdout
    return [dict(zip(fields, line.split("|"))) for line in out.splitlines()]


def train_job(run: str, names) -> str | None:
    """Among job comments ("rule_train_wildcards_{run}_{step}", with or without "rule_"), the one training
    job of `run` (train.job: run)."""
    found = [n for n in names if n.removeprefix("rule_").startswith(f"train_wildcards_{run}_")]
    assert len(found) <= 1, found
    return found[0] if found else None


def kill_training_process(job: str, env: dict) -> bool:
    """SIGKILL the training script of a SLURM job (as the kernel's OOM killer would); False if not running."""
    out = subprocess.run(["scontrol", "listpids", job], capture_output=True, text=True, env=env, check=True).stdout
    pids = [int(line.split()[0]) for line in out.splitlines()[1:]]
    killed = False
    for pid in pids:
        try:
            if b"train_rung.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
                killed = True
        except (FileNotFoundError, ProcessLookupError):  # ended meanwhile
            pass
    return killed


def interrupt_training(workdir: Path, workflow: subprocess.Popen, env: dict) -> None:
    """Pre-empt PREEMPT's training job and crash CRASH's, each while it runs with a checkpoint written.
    (Not `scancel`: plugin 2.8.0 reads sacct's "CANCELLED by <uid>" as still running and waits for ever.)"""
    from taskladder.base.config import load_config
    from taskladder.train.ladder import build

    ladder = build(load_config(SMOKE))
    actions = {PREEMPT: "requeue", CRASH: "kill"}
    deadline = time.monotonic() + 600
    while actions and workflow.poll() is None and time.monotonic() < deadline:
        out = subprocess.run(["squeue", "--noheader", "--states=RUNNING", "--format=%k|%i"],
                             capture_output=True, text=True, env=env, check=True).stdout
        running = dict(line.split("|") for line in out.splitlines())
        for run, action in list(actions.items()):
            job = running.get(train_job(run, running))
            written = {int(p.name[4:]) for p in (workdir / RESULTS / "checkpoints" / run).glob("step[0-9]*")}
            if not (job and written and ladder[run].steps not in written):
                continue
            if action == "requeue":  # SLURM holds a requeued job 120 s; let it start again at once
                subprocess.run(["scontrol", "requeue", job], env=env, check=True)
                subprocess.run(["scontrol", "update", f"jobid={job}", "starttime=now"], env=env, check=True)
            elif not kill_training_process(job, env):
                continue
            del actions[run]
        time.sleep(0.5)
    assert not actions, f"never saw the training jobs of {sorted(actions)} running with a checkpoint written"


def test_smoke_workflow_on_slurm(slurm_env, tmp_path):
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    snakemake(local, "--cores", "2")

    log = tmp_path / "slurm.log"
    with open(log, "w") as fh:
        workflow = subprocess.Popen(snakemake_cmd(cluster, *ON_SLURM, "--config", TRAIN_RESOURCES),
                                    stdout=fh, stderr=subprocess.STDOUT, env=slurm_env)
        try:
            interrupt_training(cluster, workflow, slurm_env)
            assert workflow.wait(timeout=1200) == 0, log.read_text()[-5000:]
        finally:
            if workflow.poll() is None:  # Ctrl-C: Snakemake cancels its SLURM jobs
                workflow.send_signal(signal.SIGINT)
                try:
                    workflow.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    workflow.kill()

    jobs = sacct(slurm_env)
    listing = "\n".join("|".join(job.values()) for job in jobs)
    by_rule = {}
    for job in jobs:
        by_rule.setdefault(job["Comment"].removeprefix("rule_"), []).append(job["State"])
    for rule in ("prepare_corpus", "prepare_task", "collect_metrics", "fit_method", "figures_method", "tables",
                 "variance", "compute_vs_error"):
        assert any(r.startswith(rule) for r in by_rule), f"no sbatch job of rule {rule}:\n{listing}"
    train = {r: states for r, states in by_rule.items() if r.startswith("train_")}
    assert len(train) == 7, listing  # 6 rungs and the target, one job each
    assert train.pop(train_job(PREEMPT, train)) == ["REQUEUED", "COMPLETED"], listing
    assert train.pop(train_job(CRASH, train)) == ["FAILED", "COMPLETED"], listing
    assert all(states == ["COMPLETED"] for states in train.values()), listing
    assert {(job["Partition"], job["ReqMem"], job["Timelimit"]) for job in jobs
            if job["Comment"].startswith("rule_train_")} == {("train", "1500M", "00:30:00")}, listing
    assert all(job["Partition"] == "main" for job in jobs if not job["Comment"].startswith("rule_train_")), listing
    evaluate = [job for job in jobs if job["Comment"].startswith("rule_evaluate")]
    assert len(evaluate) == 2, listing  # 7 evaluation jobs, 4 to a submission (profile: group-components)

    # the same results as a local run: the interrupted runs resumed to the same weights
    metrics = sorted(p.relative_to(local) for p in (local / RESULTS / "metrics").glob("*.csv"))
    assert len(metrics) == 7
    for table in [RESULTS / "predictions.csv", RESULTS / "fits.csv", *metrics]:
        expected, found = pd.read_csv(local / table), pd.read_csv(cluster / table)
        if "seconds" in expected:  # evaluation time, the one column that may differ
            expected, found = expected.drop(columns="seconds"), found.drop(columns="seconds")
        pd.testing.assert_frame_equal(found, expected, check_exact=True, obj=str(table))

    # rerunning the same command submits nothing; one ablation submits only its own jobs
    assert "Nothing to be done" in snakemake(cluster, *ON_SLURM, "--config", TRAIN_RESOURCES, env=slurm_env)
    assert len(sacct(slurm_env)) == len(jobs)
    snakemake(cluster, "method_taskce", *ON_SLURM, "--config", TRAIN_RESOURCES, "methods={two_step: {}, taskce: {}}",
              env=slurm_env)
    added = sorted(job["Comment"] for job in sacct(slurm_env)[len(jobs):])
    # its fit and figures, and the summary tables (the flags its figures draw weigh every method's predictions)
    assert added == ["rule_figures_method_wildcards_taskce", "rule_fit_method_wildcards_taskce", "rule_tables"], added
