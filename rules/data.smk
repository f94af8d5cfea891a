# Corpus: the evaluated tasks' n-gram index -> tokenizer -> one prepared part per input file (dedup,
# decontaminate, tokenize, hold documents out) -> the corpus (layout in taskladder/corpus/prepare.py).
# Training reads the manifest and tokenizer, evaluation the val slice, corpus_cloze the held-out documents.


rule corpus_index:
    output: EXP.corpus.files["index"],
    params: job=EXP.job("corpus_index"),
    resources: **EXP.resources["prepare"],
    log: EXP.log("corpus/index"),
    conda: "../envs/train.yaml"
    script: "../scripts/corpus_index.py"


rule corpus_tokenizer:
    input: EXP.corpus.files["index"],
    output: directory(EXP.corpus.files["tokenizer"]),
    params: job=EXP.job("corpus_tokenizer"),
    threads: 2
    resources: **EXP.resources["prepare"],
    log: EXP.log("corpus/tokenizer"),
    conda: "../envs/train.yaml"
    script: "../scripts/corpus_tokenizer.py"


rule corpus_part:
    input: index=EXP.corpus.files["index"], tokenizer=EXP.corpus.files["tokenizer"], source=EXP.corpus.part_input,
    output: directory(EXP.corpus.part()),
    wildcard_constraints: part=EXP.pattern("part"),
    params: job=EXP.job("corpus_part"),
    resources: **EXP.resources["prepare"],
    log: EXP.log("corpus/part{part}"),
    conda: "../envs/train.yaml"
    script: "../scripts/corpus_part.py"


rule prepare_corpus:
    input: EXP.corpus.parts,
    output: manifest=EXP.corpus.files["manifest"], val=EXP.corpus.files["val"], heldout=EXP.corpus.files["heldout"],
    params: job=EXP.job("prepare_corpus"),
    resources: **EXP.resources["prepare"],
    log: EXP.log("corpus/merge"),
    conda: "../envs/train.yaml"
    script: "../scripts/prepare_corpus.py"
