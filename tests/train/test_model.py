"""A rung's model: OLMo 2 built from its spec, the same weights for the same seed."""

import torch

from taskladder.base.config import validate
from taskladder.train import ladder
from taskladder.train.model import build_model, model_config


def rung():
    return ladder.build(validate({"experiment": "t", "ladder": {
        "seq_len": 16, "vocab_size": 200, "xc": [1], "checkpoints_per_run": 1,
        "sizes": {"s": {"d_model": 16, "n_layers": 2, "n_heads": 2, "mlp_ratio": 4, "batch_seqs": 2}}}})).rungs[0]


def test_the_config_is_olmo2_as_the_paper_trains_it():
    r = rung()
    config = model_config(r, eos_token_id=5, pad_token_id=6)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (16, 2, 2)
    assert config.vocab_size == r.vocab_size and config.max_position_embeddings == 16
    settings = config.to_dict()
    theta = (settings.get("rope_parameters") or settings)["rope_theta"]  # where transformers keeps it varies
    assert config.tie_word_embeddings is False and theta == 500_000.0
    assert (config.eos_token_id, config.pad_token_id) == (5, 6)


def test_the_seed_fixes_the_weights_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, c = build_model(rung(), seed=1), build_model(rung(), seed=1), build_model(rung(), seed=2)
    assert torch.equal(torch.get_rng_state(), before)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    assert sum(p.numel() for p in a.parameters()) - a.lm_head.weight.numel() == rung().n
