import pytest
import torch

from elmo.errors import InvalidInputError
from elmo.nn.scalar_mix import ScalarMix


def test_mix_is_gamma_times_softmax_weighted_sum():
    layers = torch.randn(3, 2, 4, 5)
    mask = torch.ones(2, 4, dtype=torch.bool)
    mix = ScalarMix(3, initial_weights=[0.2, -0.4, 1.0], gamma=0.7)
    w = torch.softmax(torch.tensor([0.2, -0.4, 1.0]), 0)
    expected = 0.7 * (w[0] * layers[0] + w[1] * layers[1] + w[2] * layers[2])
    torch.testing.assert_close(mix(layers, mask), expected)


def test_layer_norm_uses_each_sentences_own_real_tokens():
    torch.manual_seed(0)
    sentence = torch.randn(3, 1, 4, 5)
    other = torch.randn(3, 1, 4, 5) * 10 + 3
    mix = ScalarMix(3, layer_norm=True)
    alone = mix(sentence, torch.tensor([[True, True, True, False]]))
    batch = mix(torch.cat([sentence, other], 1), torch.tensor([[True] * 3 + [False], [True] * 4]))
    torch.testing.assert_close(batch[0], alone[0])
    assert torch.count_nonzero(batch[0, 3]) == 0
    # normalised: each layer's real values have mean 0 and variance 1, so the mix has mean 0
    assert abs(float(batch[0, :3].detach().mean())) < 1e-5


def test_weights_and_gamma_are_trainable():
    mix = ScalarMix(2)
    mix(torch.randn(2, 1, 3, 4), torch.ones(1, 3, dtype=torch.bool)).sum().backward()
    assert mix.weights.grad is not None and mix.gamma.grad is not None
    frozen = ScalarMix(2, trainable=False)
    assert not frozen.weights.requires_grad and not frozen.gamma.requires_grad


def test_wrong_number_of_layers_is_rejected():
    with pytest.raises(InvalidInputError, match="2 initial weights for 3 layers"):
        ScalarMix(3, initial_weights=[0.0, 1.0])
    with pytest.raises(InvalidInputError, match="expects 2 layers, got 3"):
        ScalarMix(2)(torch.zeros(3, 1, 1, 1), torch.ones(1, 1, dtype=torch.bool))


@pytest.mark.parametrize("layer_norm", [False, True])
def test_a_sentence_gets_the_same_bits_mixed_alone_and_in_any_padded_batch(layer_norm):
    torch.manual_seed(3)
    mix = ScalarMix(3, layer_norm=layer_norm, initial_weights=[0.3, -1.1, 0.5], gamma=1.3)
    lengths = [4, 3, 9, 1, 6, 3, 7, 2, 5, 8, 3]
    longest, width = max(lengths), 24
    layers = torch.randn(3, len(lengths), longest, width)
    mask = torch.arange(longest)[None, :] < torch.tensor(lengths)[:, None]  # (B, T)
    with torch.no_grad():
        together = mix(layers, mask)
        for size in (1, 2, 4, 5):
            for start in range(0, len(lengths), size):
                rows = slice(start, start + size)
                end = max(lengths[rows])  # the batch padded to its own longest sentence
                part = mix(layers[:, rows, :end].contiguous(), mask[rows, :end])
                for offset, n in enumerate(lengths[rows]):
                    assert torch.equal(part[offset, :n], together[start + offset, :n])
