"""The corpus's tokenizer: a byte-level BPE trained on the first documents of every input, or a configured one;
and documents to token arrays (every document ends with EOS)."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from taskladder.base.files import atomic_dir
from taskladder.corpus.decontaminate import Decontaminator, clean_documents
from taskladder.corpus.inputs import (
    CorpusError,
    corpus_inputs,
    input_documents,
    tokenizer_file,
)

log = logging.getLogger(__name__)


EOS = "<|endoftext|>"


PAD = "<|padding|>"


def token_dtype(vocab_size: int):
    return np.uint16 if vocab_size < 65536 else np.uint32




def train_bpe(texts: Iterable[str], vocab_size: int):
    """A byte-level BPE (GPT-2 style) trained on `texts`; id 0 = <|endoftext|>, 1 = <|padding|>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS, PAD], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD)


def load_tokenizer(spec: dict):
    """The tokenizer named by a `tokenizer` config (kind file or pretrained), or a saved directory."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    path = spec.get("path")
    if not path:
        raise CorpusError(f"tokenizer.path: kind {spec['kind']} needs a path")
    if spec["kind"] == "file":
        path = str(tokenizer_file(path))
        if not Path(path).exists():
            raise CorpusError(f"tokenizer.path: file not found: {path}")
        tok = PreTrainedTokenizerFast(tokenizer_file=path)
    else:
        tok = AutoTokenizer.from_pretrained(path)
    eos = spec.get("eos") or tok.eos_token or (EOS if EOS in tok.get_vocab() else None)
    if eos is None or eos not in tok.get_vocab():
        raise CorpusError(f"tokenizer.eos: {eos!r} is not in the vocabulary of {path}; set tokenizer.eos")
    tok.eos_token = eos
    if tok.pad_token is None:
        tok.pad_token = eos
    return tok


def prepare_tokenizer(config: dict, out: str | Path, decontamination: str | Path | None = None):
    """Save the corpus tokenizer to `out` and return it. ``bpe``: trained on the documents the parts
    keep (deduplicated, decontaminated), ``tokenizer.train_docs`` in all, an equal share from the
    start of every input; else the configured tokenizer."""
    spec = config["tokenizer"]
    if spec["kind"] == "bpe":
        inputs = corpus_inputs(config)
        decon = Decontaminator.load(decontamination) if decontamination else None
        share = math.ceil(spec["train_docs"] / len(inputs)) if spec.get("train_docs") else None
        texts = (text for inp in inputs
                 for _, text, _ in itertools.islice(clean_documents(input_documents(config, inp), decon), share))
        log.info("training a %d-token BPE on %s documents of each of %d inputs", spec["vocab_size"], share or "all",
                 len(inputs))
        tokenizer = train_bpe(texts, spec["vocab_size"])
    else:
        tokenizer = load_tokenizer(spec)
    with atomic_dir(out) as tmp:
        tokenizer.save_pretrained(tmp)
    return tokenizer


def encode(tokenizer, texts: list[str], eos_id: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(tokens of the texts, each followed by EOS, as one array; the end offset of each text)."""
    ids = [e.ids for e in tokenizer.backend_tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
    ends = np.cumsum([len(x) + 1 for x in ids])
    out = np.full(int(ends[-1]) if len(ends) else 0, eos_id, dtype=dtype)
    body = np.ones(len(out), dtype=bool)
    body[ends - 1] = False
    out[body] = np.fromiter(itertools.chain.from_iterable(ids), dtype=dtype, count=int(body.sum()))
    return out, ends
