"""lm-eval's `LM` interface backed by our scorer (`lm_eval --model taskladder`)."""

from test_checkpoint import fake_task

from taskladder.evaluate.checkpoint import write_random_checkpoint


def test_lm_eval_model_equals_hf(tmp_path):
    """`--model taskladder` gives lm-eval's `hf` log-likelihoods (same tokenization and truncation)."""
    from lm_eval.api.instance import Instance
    from lm_eval.api.registry import get_model
    from lm_eval.models.huggingface import HFLM

    import taskladder.evaluate.lm_eval_model  # noqa: F401  (registers "taskladder")

    checkpoint = str(write_random_checkpoint(tmp_path / "step0000000", seq_len=128))
    task = fake_task("x", n=3)
    pairs = [(c, k) for d in task.docs for c, k in zip(d.contexts, d.continuations)]
    pairs.append(("word " * 200, " overflow"))  # longer than the context of 128: cut from the left by both
    instances = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]
    ours = get_model("taskladder")(pretrained=checkpoint, device="cpu").loglikelihood(instances)
    ref = HFLM(pretrained=checkpoint, device="cpu", batch_size=4).loglikelihood(instances)
    assert max(abs(a[0] - b[0]) for a, b in zip(ours, ref)) < 1e-4
    assert [a[1] for a in ours] == [b[1] for b in ref]
