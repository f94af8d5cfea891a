"""What training reads of a prepared corpus: its training shards as one token stream, cut into instances."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from taskladder.corpus.inputs import CorpusError, read_manifest
from taskladder.corpus.prepare import read_tokens


def train_shards(corpus: str | Path) -> list[np.ndarray]:
    """The training shards of a prepared corpus, as memory-mapped token arrays."""
    corpus = Path(corpus)
    manifest = read_manifest(corpus)
    shards = []
    for s in manifest["shards"]:
        tokens = read_tokens(corpus / s["path"], manifest["dtype"])
        shards.append(tokens[s["start"]:s["end"]])
    return shards


class TokenInstances:
    """Non-overlapping `seq_len`-token instances of the training shards, in a seeded order.

    The instance at global position p (p = step * batch + i) is fixed by (seed, p): epoch
    p // len(self) visits every instance once in the order of permutation(seed + epoch). So the
    data position of a run is its step, and a resumed run reads exactly what it would have.
    """

    def __init__(self, corpus: str | Path, seq_len: int, seed: int = 0):
        self.shards = train_shards(corpus)
        counts = np.array([len(s) // seq_len for s in self.shards])
        if counts.sum() == 0:
            raise CorpusError(f"{corpus}: fewer than seq_len={seq_len} training tokens")
        self.starts = np.concatenate([[0], np.cumsum(counts)])
        self.seq_len, self.seed = seq_len, seed
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self))}
        return self._perms[epoch]

    def index(self, position: int) -> int:
        """The instance read at a global position."""
        epoch, k = divmod(position, len(self))
        return int(self._perm(epoch)[k])

    def instance(self, position: int) -> np.ndarray:
        i = self.index(position)
        s = int(np.searchsorted(self.starts, i, side="right") - 1)
        o = (i - int(self.starts[s])) * self.seq_len
        return self.shards[s][o:o + self.seq_len]

    def batch(self, start: int, count: int) -> np.ndarray:
        """Instances at positions start .. start + count - 1, as an int64 array (count, seq_len)."""
        return np.stack([self.instance(p) for p in range(start, start + count)]).astype(np.int64)
