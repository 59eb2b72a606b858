import numpy as np
import pytest

from elmo.errors import InvalidInputError
from elmo.inference.pooling import Mix, mix_layers, pool_sentence, resolve_layers

# 3 layers, 2 tokens, 2D = 4: layer k, token t, dim d holds 100k + 10t + d
VECTORS = np.array(
    [[[100 * k + 10 * t + d for d in range(4)] for t in range(2)] for k in range(3)],
    dtype=np.float32,
)


def test_resolve_layers():
    assert resolve_layers("all", 3) == (0, 1, 2)
    assert resolve_layers([2, 0], 3) == (2, 0)
    for bad in ([3], [-1], [], "top", [True], [1.0]):
        with pytest.raises(InvalidInputError, match="layers must be"):
            resolve_layers(bad, 3)


def test_average_mix_is_the_mean_of_layers():
    mixed = mix_layers(VECTORS, Mix.parse("average", 3))
    np.testing.assert_allclose(mixed, [[100, 101, 102, 103], [110, 111, 112, 113]])


def test_top_mix_is_the_last_layer_exactly():
    np.testing.assert_array_equal(mix_layers(VECTORS, Mix.parse("top", 3)), VECTORS[2])


def test_weighted_mix_is_gamma_times_softmax_weighted_sum():
    mix = Mix.parse({"weights": [0.0, np.log(3.0), 0.0], "gamma": 2.0}, 3)
    # softmax([0, ln 3, 0]) = [0.2, 0.6, 0.2]: token 0, dim 0 = 2 * (0.6 * 100 + 0.2 * 200) = 200
    np.testing.assert_allclose(mix_layers(VECTORS, mix)[0, 0], 200.0, rtol=1e-6)
    np.testing.assert_allclose(mix_layers(VECTORS, mix)[1, 3], 2 * (100 + 13), rtol=1e-6)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"weights": [1, 2]}, "2 weights for 3 selected layers"),
        ("mean", "mix must be"),
        ({"gamma": 1.0}, "mix must be"),
        ({"weights": [1, 2, 3], "scale": 1}, "mix must be"),
    ],
)
def test_bad_mix_specs_are_rejected(spec, message):
    with pytest.raises(InvalidInputError, match=message):
        Mix.parse(spec, 3)


def test_sentence_pooling_by_hand():
    layer = VECTORS[1]  # token 0: [100..103], token 1: [110..113]
    np.testing.assert_allclose(pool_sentence(layer, "mean"), [105, 106, 107, 108])
    np.testing.assert_allclose(pool_sentence(layer, "max"), [110, 111, 112, 113])
    # forward half (dims 0-1) of the last token, backward half (dims 2-3) of the first token
    np.testing.assert_allclose(pool_sentence(layer, "first_last"), [110, 111, 102, 103])
    assert pool_sentence(VECTORS, "mean").shape == (3, 4)


def test_pooling_an_empty_sentence_gives_zeros_and_bad_names_are_rejected():
    assert not pool_sentence(np.zeros((3, 0, 4), np.float32), "max").any()
    with pytest.raises(InvalidInputError, match="sentence pooling must be one of"):
        pool_sentence(VECTORS, "sum")


@pytest.mark.parametrize("gamma", [float("nan"), float("inf"), 1e39, -3.5e38])
def test_a_gamma_that_is_not_a_finite_float32_is_refused(gamma):
    with pytest.raises(InvalidInputError, match="gamma"):
        Mix((0.0, 0.0, 0.0), gamma)


@pytest.mark.parametrize(
    "weights", [(float("nan"), 0.0, 0.0), (float("inf"), 0.0, 0.0), (float("-inf"),) * 3]
)
def test_weights_that_leave_no_finite_mix_are_refused(weights):
    with pytest.raises(InvalidInputError, match="weights"):
        Mix(weights)


def test_a_mix_past_float32s_range_is_refused_not_returned_as_infinity():
    with pytest.raises(InvalidInputError, match="float32's range"):
        mix_layers(VECTORS, Mix((0.0, 0.0, 0.0), 3e38))
    assert np.isfinite(mix_layers(VECTORS, Mix((0.0, 0.0, 0.0), 1e35))).all()


def test_mean_pooling_of_large_values_stays_finite():
    big = np.full((1, 3, 4), 3e38, dtype=np.float32)
    pooled = pool_sentence(big, "mean")
    assert pooled.dtype == np.float32 and np.isfinite(pooled).all()
