"""What training reads of a corpus: its shards as one token stream, cut into instances in a seeded order."""

import numpy as np
from test_prepare import corpus_config

from taskladder.corpus import instances, prepare


def test_token_instances_order_is_a_function_of_seed_and_position(tmp_path):
    out = tmp_path / "corpus"
    prepare.prepare_corpus(corpus_config(tmp_path), out)
    a, b = instances.TokenInstances(out, 16, seed=3), instances.TokenInstances(out, 16, seed=3)
    n = len(a)
    assert np.array_equal(a.batch(5, 4), b.batch(5, 4))
    assert np.array_equal(a.batch(n + 2, 3), b.batch(n + 2, 3))  # second epoch
    assert sorted(a.index(p) for p in range(n, 2 * n)) == list(range(n))  # an epoch visits every instance once
    assert [a.index(p) for p in range(n)] != [a.index(p) for p in range(n, 2 * n)]  # reshuffled per epoch
    assert not np.array_equal(instances.TokenInstances(out, 16, seed=4).batch(0, 8), a.batch(0, 8))
