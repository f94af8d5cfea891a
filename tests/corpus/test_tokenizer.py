"""The corpus's tokenizer: trained or configured, saved as one folder that appears only complete; documents to
token arrays, each ending with EOS."""

import numpy as np
import pytest
from test_prepare import corpus_config

from taskladder.corpus import tokenizer
from taskladder.corpus.inputs import CorpusError


def test_token_dtype_fits_the_vocabulary():
    assert tokenizer.token_dtype(300) is np.uint16 and tokenizer.token_dtype(65535) is np.uint16
    assert tokenizer.token_dtype(65536) is np.uint32


def test_bpe_has_eos_and_padding_first():
    tok = tokenizer.train_bpe(["the model learns the task", "a ladder of models"] * 20, vocab_size=300)
    assert tok.convert_tokens_to_ids([tokenizer.EOS, tokenizer.PAD]) == [0, 1]
    assert tok.eos_token == tokenizer.EOS and tok.pad_token == tokenizer.PAD


def test_encode_ends_every_text_with_eos():
    tok = tokenizer.train_bpe(["the model learns the task", "a ladder of models"] * 20, vocab_size=300)
    texts = ["the model", "a ladder of models learns", "task"]
    tokens, ends = tokenizer.encode(tok, texts, eos_id=0, dtype=np.uint16)
    assert tokens.dtype == np.uint16 and len(tokens) == ends[-1]
    starts = [0, *ends[:-1]]
    for text, start, end in zip(texts, starts, ends):
        assert tokens[end - 1] == 0 and 0 not in tokens[start:end - 1]
        assert tok.decode(tokens[start:end - 1].tolist()) == text


def test_prepare_tokenizer_replaces_the_folder_whole(tmp_path):
    from transformers import AutoTokenizer

    out = tmp_path / "corpus" / "tokenizer"
    out.mkdir(parents=True)
    (out / "stale.json").write_text("{}")
    saved = tokenizer.prepare_tokenizer(corpus_config(tmp_path), out)
    assert not (out / "stale.json").exists() and len(saved) == 300
    assert AutoTokenizer.from_pretrained(out).get_vocab() == saved.get_vocab()
    assert sorted(p.name for p in out.parent.iterdir()) == ["tokenizer"]  # no temporary left beside it


def test_a_configured_tokenizer_needs_a_path_that_exists(tmp_path):
    with pytest.raises(CorpusError, match="tokenizer.path: kind file needs a path"):
        tokenizer.load_tokenizer({"kind": "file"})
    with pytest.raises(CorpusError, match="tokenizer.path: file not found"):
        tokenizer.load_tokenizer({"kind": "file", "path": str(tmp_path / "none.json")})
