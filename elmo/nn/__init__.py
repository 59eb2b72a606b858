"""The network, leaf to whole.

- ``tiles``: matrix products whose rows do not depend on the batch they are computed in (batch
  invariance by construction); every layer below computes through them.
- ``fused_rnn``: PyTorch's fused LSTM kernel, where it gives the same numbers.
- ``chars``: words → padded character ids (the token encoder's input).
- ``char_cnn``, ``highway``, ``token_encoder``: char embeddings → convolutions of several widths
  → max-pool → highway layers → projection: one context-free vector per token.
- ``cells``: the recurrent cells (Elman, GRU, LSTM with peepholes, coupled gates, projection),
  their equations only.
- ``recurrent``: a stack of cells in one direction, the second layer residual to the first.
- ``lm_head``: the softmax shared by the forward and backward language models.
- ``scalar_mix``: the learned weighted sum of layers a downstream task uses.
- ``bilm``: the whole biLM: token encoder + forward and backward stacks (+ LM head).
"""
