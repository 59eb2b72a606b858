"""Growing a trained biLM into a wider one: the same function at the start, every new weight
trainable, and refusals for what cannot grow."""

import dataclasses

import pytest
import torch

from elmo.errors import ConfigError
from elmo.nn.bilm import BiLM, add_sentence_boundaries, mask_and_lengths
from elmo.nn.chars import batch_to_char_ids
from elmo.training.growth import check_growable, grow_state
from factories import random_sentences, tiny_config


def _configs(hidden: int = 20, projection: int = 10):
    small = tiny_config(clip=None, vocab_size=11)
    recurrent = dataclasses.replace(small.recurrent, hidden_size=hidden, projection_size=projection)
    return small, dataclasses.replace(small, recurrent=recurrent)


def _grown(hidden: int = 20, projection: int = 10) -> tuple[BiLM, BiLM]:
    small_config, large_config = _configs(hidden, projection)
    torch.manual_seed(0)
    small = BiLM(small_config).eval()
    with torch.no_grad():  # a trained-looking model: no zero biases or symmetric gates
        for parameter in small.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    torch.manual_seed(1)
    large = BiLM(large_config).eval()
    large.load_state_dict(
        grow_state(small.state_dict(), large.state_dict(), small_config, large_config)
    )
    return small, large


def _batch(seed: int = 3):
    ids = batch_to_char_ids(random_sentences(5, 7, seed))
    _, lengths = mask_and_lengths(ids)
    char_ids = add_sentence_boundaries(ids, lengths)
    units = torch.randint(0, 11, char_ids.shape[:2], generator=torch.Generator().manual_seed(seed))
    return ids, char_ids, units


@pytest.mark.parametrize(("hidden", "projection"), [(20, 10), (12, 9), (24, 6)])
def test_a_grown_model_has_the_bundles_lm_loss_and_old_vector_dimensions(hidden, projection):
    small, large = _grown(hidden, projection)
    ids, char_ids, units = _batch()
    with torch.no_grad():
        before, after = (
            small.language_model_loss(char_ids, units),
            large.language_model_loss(char_ids, units),
        )
        old, new = small(ids).layers, large(ids).layers  # (3, B, T, 2P) and (3, B, T, 2P')
    torch.testing.assert_close(after.forward, before.forward, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(after.backward, before.backward, rtol=1e-5, atol=1e-6)
    p, q = 6, projection
    torch.testing.assert_close(new[..., :p], old[..., :p], rtol=1e-5, atol=1e-6)  # forward
    torch.testing.assert_close(new[..., q : q + p], old[..., p:], rtol=1e-5, atol=1e-6)
    if q > p:  # the new dimensions carry something (they are not dead units)
        assert new[1:, ..., p:q].abs().amax() > 1e-3


def test_every_new_weight_gets_a_gradient_within_two_updates():
    _, large = _grown()
    large.train()
    optimizer = torch.optim.SGD(large.parameters(), lr=0.5)
    start = {k: v.detach().clone() for k, v in large.named_parameters()}
    for seed in (3, 4):
        _, char_ids, units = _batch(seed)
        optimizer.zero_grad()
        large.language_model_loss(char_ids, units).loss.backward()
        optimizer.step()
    for name, parameter in large.named_parameters():
        if parameter.ndim == 2 and ("recurrent" in name or "projection" in name):
            moved = (parameter.detach() - start[name]).abs()  # every row and every column
            assert bool((moved.sum(dim=1) > 0).all()), name
            assert bool((moved.sum(dim=0) > 0).all()), name


def test_only_lstm_recurrent_sizes_may_grow_and_only_upwards():
    small, large = _configs()
    assert check_growable(small, large) == []
    assert check_growable(small, small) == []
    smaller = check_growable(large, small)
    assert any("hidden_size can only grow (20 there, 12 here)" in p for p in smaller)
    deeper = dataclasses.replace(large.recurrent, num_layers=3)
    layers = dataclasses.replace(large, recurrent=deeper)
    assert any("num_layers must stay" in p for p in check_growable(small, layers))
    gru = tiny_config(cell="gru", clip=None, vocab_size=11)
    assert any("cell must be 'lstm'" in p for p in check_growable(gru, large))
    vocab = dataclasses.replace(large, vocab_size=12)
    assert any("vocab_size must stay" in p for p in check_growable(small, vocab))
    with pytest.raises(ConfigError, match=r"cannot grow the model: .*can only grow"):
        grow_state(BiLM(large).state_dict(), BiLM(small).state_dict(), large, small)
