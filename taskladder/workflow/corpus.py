"""The plan of the corpus (rules/data.smk): the decontamination index, the tokenizer, one prepared part per
input file and the merge (layout: taskladder.corpus.prepare)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from taskladder.base.params import canonical
from taskladder.workflow.layout import PlanPart


@dataclass(frozen=True)
class CorpusPlan(PlanPart):

    @property
    def files(self) -> dict[str, str]:
        """One entry per file the corpus jobs write: the decontamination index, the tokenizer, and what merging the
        parts writes (the manifest, which names the parts' training shards, the val slice of the LM loss, the
        held-out documents of corpus_cloze)."""
        return self.layout.corpus

    @property
    def training(self) -> dict[str, str]:
        """What training reads of the corpus: the manifest (and through it the parts) and the tokenizer."""
        return {k: self.files[k] for k in ("manifest", "tokenizer")}

    def part(self, index: int | str = "{part}") -> str:
        """The prepared part of corpus input `index` (one job each; `taskladder.corpus.inputs.corpus_inputs`)."""
        from taskladder.corpus.prepare import part_name

        return self.layout.path("corpus", part_name(index))

    @cached_property
    def inputs(self) -> list[dict]:
        """The corpus's inputs (globs the sources' files), listed once and only when a job needs the corpus."""
        from taskladder.corpus.inputs import corpus_inputs

        return corpus_inputs(self.config)

    def parts(self, wildcards=None) -> list[str]:
        """Every input's part."""
        return [self.part(i) for i in range(len(self.inputs))]

    def part_input(self, wildcards) -> list[str]:
        """The local file a part reads, so that changing it reprepares the part (URLs and datasets: none)."""
        from taskladder.corpus.inputs import URL

        index = int(wildcards.part)
        path = self.inputs[index]["path"] if index < len(self.inputs) else None
        return [path] if path and not URL.match(path) else []

    def job(self, wildcards=None, *, seed: bool = False) -> dict:
        """A corpus job's params: the corpus and tokenizer sections (and the seed, for a part: which documents it
        holds out)."""
        return canonical({"corpus": self.config["corpus"], "tokenizer": self.config["tokenizer"]}
                         | ({"seed": self.config["seed"]} if seed else {}))

    def part_job(self, wildcards=None) -> dict:
        return self.job(seed=True)

    def index_job(self, wildcards=None) -> dict:
        """The decontamination index depends on the corpus section only."""
        return canonical({"corpus": self.config["corpus"]})
