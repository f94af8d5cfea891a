"""A rung's model: transformers' ``Olmo2ForCausalLM`` built from its spec (OLMo 2 architecture).

OLMo 2 settings: RMSNorm after attention and MLP (reordered norm), QK-norm, SwiGLU MLP,
RoPE theta 500,000, no biases, untied input/output embeddings, init N(0, init_std).
"""

from __future__ import annotations

import torch
from transformers import Olmo2Config, Olmo2ForCausalLM

from taskladder.train.ladder import Rung

EOS_ID, PAD_ID = 0, 1  # ids of <|endoftext|> and <|padding|> in our BPE; real ids come from the tokenizer


def model_config(rung: Rung, *, eos_token_id: int = EOS_ID, pad_token_id: int = PAD_ID,
                 init_std: float = 0.02, attn_implementation: str = "eager") -> Olmo2Config:
    options = dict(rope_theta=500_000.0, rms_norm_eps=1e-6)
    options.update(rung.extra)
    return Olmo2Config(
        vocab_size=rung.vocab_size,
        hidden_size=rung.d_model,
        intermediate_size=rung.mlp_hidden,
        num_hidden_layers=rung.n_layers,
        num_attention_heads=rung.n_heads,
        num_key_value_heads=rung.n_kv_heads,
        max_position_embeddings=rung.seq_len,
        attention_bias=False,
        tie_word_embeddings=False,
        initializer_range=init_std,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        bos_token_id=None,
        attn_implementation=attn_implementation,
        **options,
    )


def build_model(rung: Rung, seed: int = 0, **config_kwargs) -> Olmo2ForCausalLM:
    """A freshly initialised model; the same seed gives the same weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Olmo2ForCausalLM(model_config(rung, **config_kwargs))
