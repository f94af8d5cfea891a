"""The prefix-sharing scorer equals naive full-sequence scoring (issue 4, done-when 2)."""

import random

import pytest
import torch
from transformers import Olmo2Config, Olmo2ForCausalLM

from taskladder.evaluate.scoring import Request, Scorer, ScoringError, score_naive

VOCAB = 300


def tiny_model(attn="sdpa", seq_len=512):
    config = Olmo2Config(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=seq_len, tie_word_embeddings=False,
                         eos_token_id=0, pad_token_id=1, bos_token_id=None, attn_implementation=attn)
    torch.manual_seed(0)
    return Olmo2ForCausalLM(config).eval()


def toks(rng, lo, hi):
    return tuple(rng.randrange(VOCAB) for _ in range(rng.randint(lo, hi)))


def task_like_requests(seed=0):
    """What OLMES tasks look like: a shared few-shot block, per-doc questions, several choices;
    Winogrande-like docs (contexts differ, continuation shared); and docs sharing nothing."""
    rng = random.Random(seed)
    shots = toks(rng, 80, 80)
    reqs, groups = [], []
    for d in range(10):
        q = toks(rng, 1, 30)
        for c in range(4):
            reqs.append(Request(shots + q, toks(rng, 1, 8), f"doc {d} choice {c}"))
            groups.append(d)
    for d in range(3):
        cont = toks(rng, 2, 5)
        for c in range(2):
            reqs.append(Request(shots + toks(rng, 3, 7), cont))
            groups.append(100 + d)
    for d in range(3):
        reqs.append(Request(toks(rng, 5, 20), toks(rng, 1, 3)))
        groups.append(200 + d)
    # a context that is exactly the shared block (its continuation is predicted from the cached prefix)
    reqs += [Request(shots, (5, 6)), Request(shots, (7,))]
    groups += [300, 300]
    return reqs, groups


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("batch_tokens", [64, 4096])
def test_prefix_sharing_equals_naive(attn, batch_tokens):
    model = tiny_model(attn)
    reqs, groups = task_like_requests()
    scorer = Scorer(model, batch_tokens=batch_tokens)
    ours = scorer.score(reqs, groups)
    naive = score_naive(model, reqs)
    assert max(abs(ll - ref) for (ll, _), ref in zip(ours, naive)) < 1e-4
    stats = scorer.last_stats
    assert stats.requests == len(reqs)
    assert stats.tokens * 4 < stats.naive_tokens  # the shared block and contexts were run once


def test_default_groups_are_identical_contexts():
    model = tiny_model()
    reqs, groups = task_like_requests(seed=1)
    with_groups = Scorer(model).score(reqs, groups)
    without = Scorer(model).score(reqs)
    assert [round(a[0], 4) for a in with_groups] == [round(b[0], 4) for b in without]


def test_is_greedy():
    model = tiny_model()
    ctx = (3, 4, 5)
    with torch.inference_mode():
        best = int(model(input_ids=torch.tensor([ctx])).logits[0, -1].argmax())
    (ll_best, greedy_best), (_, greedy_other) = Scorer(model).score(
        [Request(ctx, (best,)), Request(ctx, ((best + 1) % VOCAB,))])
    assert greedy_best and not greedy_other and ll_best < 0


def test_too_long_request_names_request_and_lengths():
    model = tiny_model(seq_len=32)
    with pytest.raises(ScoringError, match=r"hellaswag doc 7 choice 1: 30 context \+ 5 continuation tokens = 34 .* 32"):
        Scorer(model).score([Request(tuple(range(30)), (1, 2, 3, 4, 5), "hellaswag doc 7 choice 1")])


def test_empty_continuation_and_context_raise():
    model = tiny_model()
    with pytest.raises(ScoringError, match="empty continuation"):
        Scorer(model).score([Request((1, 2), (), "x")])
    with pytest.raises(ScoringError, match="empty context"):
        Scorer(model).score([Request((), (1, 2), "x")])


def test_a_document_sharing_nothing_is_scored_row_by_row():
    """Choices whose contexts were cut from the left by different amounts (the document is too long
    for the model) share no prefix: each is its own row, not one row of all their tokens."""
    model = tiny_model(seq_len=64)
    rng = random.Random(2)
    text = toks(rng, 200, 200)
    reqs = []
    for c in range(4):
        cont = toks(rng, 1 + c, 1 + c)
        reqs.append(Request(text[-(64 - len(cont) + 1):], cont))
    scorer = Scorer(model)
    ours = scorer.score(reqs, [0] * 4)
    assert max(abs(ll - ref) for (ll, _), ref in zip(ours, score_naive(model, reqs))) < 1e-4
    rows = [row for _, cluster in scorer.plan(reqs, [0] * 4) for row in cluster]
    assert len(rows) == 4 and max(len(row.tokens) for row in rows) <= 64
