"""Running a trained biLM to get embeddings.

- ``embedder``: :class:`~elmo.inference.embedder.Embedder`, text or tokens → per-word vectors of
  every layer (the batch path every other part of inference builds on).
- ``pooling``: word pooling over sentencepiece units, layer mixes, sentence pooling.
- ``streaming``: continuous batching: sentences join and leave a running batch between steps.
- ``module``: :class:`~elmo.inference.module.Elmo`, the biLM as a layer of a task model.
- ``extract``: bulk extraction of a file of sentences into HDF5, NPZ or JSONL.
"""
