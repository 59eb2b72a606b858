"""Training a biLM, in the order a run uses the parts.

- ``config``: the TOML training configuration (sections, defaults, validation).
- ``corpus``: reading a corpus's files and lines.
- ``data``: lines → unit ids, encoded once and memory-mapped; batches planned by length.
- ``prepare``: a run's tokenizer and encoded training and validation data (every rank the same).
- ``objective``: the joint forward + backward LM loss, as a module DDP can wrap.
- ``optim``: optimisers and the learning-rate schedule.
- ``step``: one optimizer step (accumulation, normalisation, clipping).
- ``checkpoint``: everything needed to continue a run exactly where it stopped.
- ``model_card``: the MODEL_CARD.md of a trained bundle.
- ``loop``: the training loop: steps, evaluation, checkpoints, the final bundle.
"""
