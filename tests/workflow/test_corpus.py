"""The plan of the corpus: one part job per input file, each rerun only by what changes its output."""

import json
from types import SimpleNamespace

from taskladder.base.config import validate
from taskladder.base.files import results_dir
from taskladder.workflow.corpus import CorpusPlan
from taskladder.workflow.layout import Layout


def corpus_plan(tmp_path, **corpus):
    for name in ("a", "b"):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps({"text": name}) + "\n")
    sources = [{"kind": "jsonl", "path": str(tmp_path / "*.jsonl")}, {"kind": "npy", "list": str(tmp_path / "urls")}]
    (tmp_path / "urls").write_text("https://example.org/tokens.npy\n")
    config = validate({"experiment": "c", "corpus": {"sources": sources, **corpus}, "tokenizer": {"vocab_size": 300},
                       "seed": 3})
    return CorpusPlan(config, Layout(results_dir("c")))


def test_one_part_per_input(tmp_path):
    plan = corpus_plan(tmp_path)
    assert [i["path"] for i in plan.inputs] == [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"),
                                                "https://example.org/tokens.npy"]
    assert plan.parts() == ["results/c/corpus/train/00000", "results/c/corpus/train/00001",
                            "results/c/corpus/train/00002"]
    assert plan.part() == "results/c/corpus/train/{part}"  # the rule's wildcard
    assert plan.training == {"manifest": "results/c/corpus/manifest.json", "tokenizer": "results/c/corpus/tokenizer"}


def test_a_part_depends_on_its_own_local_file_only(tmp_path):
    plan = corpus_plan(tmp_path)
    assert plan.part_input(SimpleNamespace(part="00001")) == [str(tmp_path / "b.jsonl")]
    assert plan.part_input(SimpleNamespace(part="00002")) == []  # a URL: downloaded by the job
    assert plan.part_input(SimpleNamespace(part="00009")) == []  # no such input: the rule has nothing to read


def test_params_hold_what_changes_each_output(tmp_path):
    plan = corpus_plan(tmp_path)
    other_tokenizer = corpus_plan(tmp_path)
    other_tokenizer.config["tokenizer"]["vocab_size"] = 400
    assert plan.index_job() == other_tokenizer.index_job() == {"corpus": plan.config["corpus"]}
    assert plan.job() != other_tokenizer.job() and "seed" not in plan.job()
    assert plan.part_job()["seed"] == 3 and plan.part_job() == {**plan.job(), "seed": 3}
