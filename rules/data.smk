# Corpus: the evaluated tasks' n-gram index -> tokenizer -> one prepared part per input file (dedup,
# decontaminate, tokenize, hold documents out) -> the corpus (layout in taskladder/data.py). EXP.corpus
# names the files; training reads the manifest and tokenizer, evaluation the val slice, corpus_cloze
# the held-out documents.


rule corpus_index:
    output: EXP.corpus["index"],
    params: corpus=config["corpus"],
    resources: **EXP.resources["prepare"],
    log: EXP.log("corpus/index"),
    conda: "../envs/train.yaml"
    script: "../scripts/corpus_index.py"


rule corpus_tokenizer:
    input: EXP.corpus["index"],
    output: directory(EXP.corpus["tokenizer"]),
    params: corpus=config["corpus"], tokenizer=config["tokenizer"],
    threads: 2
    resources: **EXP.resources["prepare"],
    log: EXP.log("corpus/tokenizer"),
    conda: "../envs/train.yaml"
    script: "../scripts/corpus_tokenizer.py"


rule corpus_part:
    input: index=EXP.corpus["index"], tokenizer=EXP.corpus["tokenizer"], source=EXP.corpus_part_input,
    output: directory(EXP.corpus_part()),
    wildcard_constraints: part=EXP.pattern("part"),
    params: corpus=config["corpus"], tokenizer=config["tokenizer"], seed=config["seed"],
    resources: **EXP.resources["prepare"],
    log: EXP.log("corpus/part{part}"),
    conda: "../envs/train.yaml"
    script: "../scripts/corpus_part.py"


rule prepare_corpus:
    input: EXP.corpus_parts,
    output: manifest=EXP.corpus["manifest"], val=EXP.corpus["val"], heldout=EXP.corpus["heldout"],
    params: corpus=config["corpus"], tokenizer=config["tokenizer"],
    resources: **EXP.resources["prepare"],
    log: EXP.log("corpus/merge"),
    conda: "../envs/train.yaml"
    script: "../scripts/prepare_corpus.py"
