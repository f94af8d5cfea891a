"""The training corpus: the inputs a config names (`inputs`), decontamination against the evaluated tasks
(`decontaminate`), the tokenizer (`tokenizer`), one prepared part per input and their merge (`prepare`), and what
training reads of it (`instances`).

Imports: base, tasks (the evaluated tasks' text, to decontaminate against).
"""
