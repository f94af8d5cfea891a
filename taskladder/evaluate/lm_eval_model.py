"""lm-eval's `LM` interface backed by taskladder's prefix-sharing scorer, registered as `taskladder`.

    python -m taskladder.evaluate.lm_eval_model --model taskladder --model_args pretrained=CKPT --tasks arc_easy
    # (the same arguments as `lm_eval`; this entry point only registers the model first)

or from Python: `import taskladder.evaluate.lm_eval_model` then `lm_eval.simple_evaluate(model="taskladder", ...)`.
The device is `--device` (lm-eval's command line passes cuda:0 when it is not given): on a machine without CUDA,
the CPU, with a warning.

Requests are tokenized exactly as lm-eval's `hf` model does (context and continuation encoded
together, trailing context spaces moved to the continuation; an empty context becomes the
EOS/BOS token) and, like `hf`, contexts too long for the model are cut from the left, so the
log-likelihoods equal `hf`'s (bench/eval_throughput.py checks it). Only log-likelihood requests
(multiple-choice and perplexity tasks) are supported; generation tasks raise.
"""

from __future__ import annotations

import logging
import sys

from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from taskladder.evaluate.scoring import Request, Scorer, ScoringError, default_device

log = logging.getLogger(__name__)


def usable_device(device: str | None) -> str:
    """`device`, or the default one where it is not given or names CUDA on a machine without it."""
    if device and device.startswith("cuda") and default_device() == "cpu":
        log.warning("device %s: CUDA is not available on this machine; scoring on the CPU", device)
        return "cpu"
    return device or default_device()


@register_model("taskladder")
class TaskladderLM(TemplateLM):
    def __init__(self, pretrained: str, device: str | None = None, batch_tokens: int = 16384,
                 max_length: int | None = None, batch_size=None, **kwargs):
        super().__init__()
        from taskladder.evaluate.checkpoint import load_model

        self.model, self.tokenizer = load_model(pretrained, usable_device(device))
        self.scorer = Scorer(self.model, batch_tokens=int(batch_tokens),
                             max_length=int(max_length) if max_length else None)
        self._device = self.scorer.device
        self._encoded: dict[str, list[int]] = {}  # tok_encode's default encodings of loglikelihood's strings

    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def prefix_token_id(self) -> int:
        bos = self.tokenizer.bos_token_id
        return bos if bos is not None else self.tokenizer.eos_token_id

    @property
    def max_length(self) -> int:
        return self.scorer.max_length

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, left_truncate_len=None, **kwargs):
        if add_special_tokens is None and string in self._encoded:
            ids = self._encoded[string]
        else:
            kw = {} if add_special_tokens is None else {"add_special_tokens": add_special_tokens}
            ids = self.tokenizer.encode(string, **kw)
        return ids[-left_truncate_len:] if left_truncate_len else ids

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        # lm-eval encodes every context and context + continuation one call at a time, a document's
        # context once per choice; encode the distinct strings in one batch first (tok_encode finds them)
        texts = list({text for r in requests for text in (r.args[0], r.args[0] + r.args[1])})
        self._encoded = dict(zip(texts, self.tokenizer(texts)["input_ids"]))
        try:
            return super().loglikelihood(requests, disable_tqdm=disable_tqdm)
        finally:
            self._encoded = {}

    def _request(self, context, continuation, name="") -> Request:
        if len(continuation) > self.max_length:
            raise ScoringError(f"{name or 'request'}: {len(continuation)} continuation tokens > the model's context "
                               f"of {self.max_length}")
        keep = self.max_length - len(continuation) + 1  # like hf: keep the last max_length input tokens
        return Request(tuple(context[-keep:]), tuple(continuation), name)

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs):
        reqs = [self._request(ctx, cont, f"request {i}: {strings[0][-40:]!r} + {strings[1][:40]!r}")
                for i, (strings, ctx, cont) in enumerate(requests)]
        results = self.scorer.score(reqs)
        for (strings, _, _), result in zip(requests, results):
            if strings is not None:
                self.cache_hook.add_partial("loglikelihood", strings, result)
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        out = []
        for (string,) in [r.args for r in requests]:
            windows = [make_disjoint_window(w) for w in get_rolling_token_windows(
                token_list=self.tok_encode(string), prefix_token=self.prefix_token_id,
                max_seq_len=self.max_length, context_len=1)]
            scores = self.scorer.score([Request(tuple(c), tuple(t)) for c, t in windows])
            total = sum(ll for ll, _ in scores)
            self.cache_hook.add_partial("loglikelihood_rolling", (string,), total)
            out.append(total)
        return out

    def generate_until(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("the taskladder model scores log-likelihoods only (multiple-choice and perplexity "
                                  "tasks); use --model hf for generation tasks")


def main() -> None:
    """`lm_eval`'s command line with the `taskladder` model registered."""
    from lm_eval.__main__ import cli_evaluate

    sys.argv[0] = "lm_eval"
    cli_evaluate()


if __name__ == "__main__":
    main()
