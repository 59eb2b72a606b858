"""The linear probe and its cross-validation."""

import numpy as np

from elmo.evaluation.probe import LinearProbe, cross_validated_accuracy


def test_probe_separates_linearly_separable_classes():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 5)) * 4
    labels = rng.integers(0, 3, size=300)
    features = centres[labels] + rng.normal(size=(300, 5)) * 0.1
    probe = LinearProbe().fit(features[:200], labels[:200], 3)
    assert probe.accuracy(features[200:], labels[200:]) == 1.0


def test_probe_is_deterministic():
    rng = np.random.default_rng(1)
    features, labels = rng.normal(size=(100, 4)), rng.integers(0, 2, size=100)
    first = LinearProbe().fit(features, labels, 2).predict(features)
    np.testing.assert_array_equal(first, LinearProbe().fit(features, labels, 2).predict(features))


def test_cross_validation_finds_signal_and_stays_near_chance_without_it():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, size=400)
    informative = labels[:, None] * 2.0 + rng.normal(size=(400, 3))
    noise = rng.normal(size=(400, 3))
    assert cross_validated_accuracy(informative, labels, folds=5) > 0.8
    assert 0.35 < cross_validated_accuracy(noise, labels, folds=5) < 0.65
