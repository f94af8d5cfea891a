"""Training the ladder: rung specs and their hyper-parameters (`ladder`), the model (`model`), the options
(`options`), the training loop (`loop`, read it top to bottom), checkpoints on disk (`checkpoints`) and the
workflow's training job, in this process or under torchrun (`launch`).

Imports: base, corpus (the prepared corpus's token stream).
"""
