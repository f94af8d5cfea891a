"""Decontamination: the word n-gram index of every string the evaluated tasks show a model, and the documents
that pass it (deduplicated, non-empty, sharing no n-gram with an evaluated task)."""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from taskladder.base.files import atomic_path
from taskladder.corpus.inputs import BATCH_DOCS, evaluated_texts

log = logging.getLogger(__name__)


def _mix64(x: int) -> int:
    """splitmix64's finalizer: a well-spread 64-bit value of an integer."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK64
    return x ^ (x >> 31)


def doc_key(text: str) -> int:
    """A document's identity: a 64-bit hash of its text after whitespace normalisation."""
    return int.from_bytes(hashlib.blake2b(" ".join(text.split()).encode(), digest_size=8).digest(), "little")


def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little") | 1  # never 0


class Decontaminator:
    """Flags text that shares a word n-gram with evaluated-task text, or equals a short one (3 words
    or more, fewer than n).

    Words are lower-cased ``\\w+`` runs. The index holds the vocabulary of the evaluated text and a
    64-bit hash of each of its n-grams, made of a stable hash per word (so the index means the same in
    every process); a document's n-grams are hashed the same way, a batch of documents at a time.
    The evaluated texts are read as a stream.
    """

    def __init__(self, texts: Iterable[str] = (), n: int = 13):
        self.n, self.vocab = n, {}
        seen: set[int] = set()
        grams, short = [np.zeros(0, np.uint64)], [np.zeros(0, np.uint64)]
        texts = iter(texts)
        while batch := list(itertools.islice(texts, 4096)):
            fresh = [t for t in batch if t and t.strip() and hash(t) not in seen and not seen.add(hash(t))]
            for t in fresh:
                for w in _WORD.findall(t.lower()):
                    if w not in self.vocab:
                        self.vocab[w] = _word_hash(w)
            if not fresh:
                continue
            g, _, sh, _ = self._hashes(fresh)
            grams.append(g)
            short.append(sh)
            if sum(map(len, grams[1:])) > max(len(grams[0]), 1 << 22):  # merge what is pending, rarely
                grams = [np.unique(np.concatenate(grams))]
        self.ngrams, self.short = np.unique(np.concatenate(grams)), np.unique(np.concatenate(short))

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, n=self.n, ngrams=self.ngrams, short=self.short,
                     words=np.frombuffer("\n".join(sorted(self.vocab)).encode(), dtype=np.uint8))

    @classmethod
    def load(cls, path: str | Path) -> "Decontaminator":
        with np.load(path) as z:
            d = cls.__new__(cls)
            d.n, d.ngrams, d.short = int(z["n"]), z["ngrams"], z["short"]
            words = z["words"].tobytes().decode()
        d.vocab = {w: _word_hash(w) for w in words.split("\n")} if words else {}
        return d

    def _hashes(self, texts: list[str]):
        """Hashes of `texts`: (every n-gram of known words, the text each is in; the whole word
        sequence of each short text whose words are all known, the text each is)."""
        words = [_WORD.findall(t.lower()) for t in texts]
        lengths = np.array([len(w) + 1 for w in words])  # + a 0 separator: no n-gram spans two texts
        ends = np.cumsum(lengths)
        h = np.zeros(int(ends[-1]), dtype=np.uint64)  # the words' hashes; 0 = a word the index does not know
        body = np.ones(len(h), dtype=bool)
        body[ends - 1] = False
        h[body] = np.fromiter(map(self.vocab.get, itertools.chain.from_iterable(words), itertools.repeat(0)),
                              np.uint64, count=int(body.sum()))
        m, n = len(h), self.n
        grams, owner = np.zeros(0, np.uint64), np.zeros(0, np.int64)
        if m >= n:
            acc = np.zeros(m - n + 1, dtype=np.uint64)
            for j in range(n):  # polynomial hash of every window of n words
                acc = acc * _P + h[j:j + m - n + 1]
            zeros = np.concatenate([[0], np.cumsum(h == 0)])
            valid = np.flatnonzero(zeros[n:] - zeros[:-n] == 0)  # windows of known words only
            grams, owner = acc[valid], np.searchsorted(ends, valid, side="right")
        short = [(self._whole(h[e - len(w) - 1:e - 1]), k) for k, (w, e) in enumerate(zip(words, ends))
                 if 3 <= len(w) < n and h[e - len(w) - 1:e - 1].all()]
        return grams, owner, np.array([x for x, _ in short], np.uint64), np.array([k for _, k in short], np.int64)

    @staticmethod
    def _whole(hashes: np.ndarray) -> int:
        acc = 0
        for v in hashes.tolist():
            acc = (acc * int(_P) + v) & _MASK64
        return _mix64(acc ^ len(hashes))

    def flags(self, texts: list[str]) -> np.ndarray:
        """Whether each text is contaminated."""
        out = np.zeros(len(texts), dtype=bool)
        if not texts:
            return out
        grams, owner, short, short_owner = self._hashes(texts)
        if len(self.ngrams) and len(grams):
            at = np.minimum(np.searchsorted(self.ngrams, grams), len(self.ngrams) - 1)
            out[owner[self.ngrams[at] == grams]] = True
        out[short_owner[np.isin(short, self.short)]] = True
        return out

    def contaminated(self, text: str) -> bool:
        return bool(self.flags([text])[0])


def write_decontamination_index(config: dict, out: str | Path) -> Path:
    """The n-gram index of the evaluated tasks (`Decontaminator.save`) in `out`: an empty one, which
    flags nothing, when the config turns decontamination off or the corpus is pre-tokenized."""
    corpus = config["corpus"]
    if not corpus.get("decontaminate_ngram") or any(s["kind"] == "npy" for s in corpus["sources"]):
        log.info("decontamination off (%s): an empty index", "pre-tokenized corpus" if corpus.get("decontaminate_ngram")
                 else "corpus.decontaminate_ngram is null")
        Decontaminator((), corpus.get("decontaminate_ngram") or 13).save(out)
        return Path(out)
    log.info("building the decontamination index of %s", corpus["exclude_tasks"])
    d = Decontaminator(evaluated_texts(corpus["exclude_tasks"]), corpus["decontaminate_ngram"])
    d.save(out)
    log.info("decontamination index: %d words, %d %d-grams, %d short texts", len(d.vocab), len(d.ngrams), d.n,
             len(d.short))
    return Path(out)


def clean_documents(docs: Iterable[tuple[str, str]], decontaminator: Decontaminator | None,
                    stats: dict | None = None) -> Iterator[tuple[str, str, int]]:
    """(name, text, key) of the documents kept: not empty, not an exact duplicate of an earlier one
    (after whitespace normalisation), not contaminated. Counts go to `stats` (documents, duplicates,
    contaminated: per source name)."""
    seen: set[int] = set()
    kept, dup, bad = Counter(), Counter(), Counter()
    if stats is not None:
        stats.update(documents=kept, duplicates=dup, contaminated=bad)
    docs = iter(docs)
    while batch := list(itertools.islice(docs, BATCH_DOCS)):
        fresh = []
        for name, text in batch:
            if not text or not text.strip():
                continue
            key = doc_key(text)
            if key in seen:
                dup[name] += 1
                continue
            seen.add(key)
            fresh.append((name, text, key))
        flags = decontaminator.flags([t for _, t, _ in fresh]) if decontaminator is not None else [False] * len(fresh)
        for doc, flag in zip(fresh, flags):
            if flag:
                bad[doc[0]] += 1
            else:
                kept[doc[0]] += 1
                yield doc


_WORD = re.compile(r"\w+")


_MASK64 = (1 << 64) - 1


_P = np.uint64(0x100000001B3)  # polynomial base of the n-gram hash (odd)
