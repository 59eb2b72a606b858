import math

import pytest
import torch
from torch.nn import functional

from elmo.errors import InvalidInputError
from elmo.nn.bilm import BiLM, add_sentence_boundaries, mask_and_lengths
from elmo.nn.chars import BOS_CHAR_IDS, EOS_CHAR_IDS, batch_to_char_ids
from factories import ALL_CELLS, random_sentences, tiny_config, tiny_model


def test_boundaries_surround_each_sentence():
    ids = batch_to_char_ids([["a", "b"], ["c"]])
    _, lengths = mask_and_lengths(ids)
    out = add_sentence_boundaries(ids, lengths)
    assert out.shape == (2, 4, 50)
    assert out[0, 0].tolist() == list(BOS_CHAR_IDS) == out[1, 0].tolist()
    assert out[0, 3].tolist() == list(EOS_CHAR_IDS) == out[1, 2].tolist()
    assert int(out[1, 3].abs().sum()) == 0


def test_output_has_one_layer_per_recurrent_layer_plus_tokens():
    model = tiny_model()
    output = model(batch_to_char_ids([["a", "b", "c"], ["d"]]))
    assert output.layers.shape == (3, 2, 3, 12)
    assert output.mask.tolist() == [[True, True, True], [True, False, False]]
    # layer 0 is the token vector twice
    torch.testing.assert_close(output.layers[0, :, :, :6], output.layers[0, :, :, 6:])


def test_empty_sentences_give_zero_length_outputs():
    model = tiny_model()
    output = model(batch_to_char_ids([[], []]))
    assert output.layers.shape == (3, 2, 0, 12)
    assert output.mask.shape == (2, 0)


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_a_batch_of_no_sentences_gives_empty_layers(cell):
    output = tiny_model(cell)(batch_to_char_ids([]))
    assert output.layers.shape == (3, 0, 0, 12) and output.mask.shape == (0, 0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: [[1, 2]], "must be a tensor"),
        (lambda: torch.zeros(2, 50, dtype=torch.long), r"shape \(batch, tokens, 50\)"),
        (lambda: torch.zeros(1, 2, 40, dtype=torch.long), r"shape \(batch, tokens, 50\)"),
        (lambda: torch.zeros(1, 2, 50), "must be integers"),
        (lambda: torch.full((1, 2, 50), 262), "must lie in 0..261"),
        (lambda: torch.full((1, 2, 50), -1), "must lie in 0..261"),
    ],
)
def test_malformed_char_ids_are_rejected(make, message):
    with pytest.raises(InvalidInputError, match=message):
        tiny_model()(make())


def test_token_slots_with_gaps_are_rejected():
    ids = batch_to_char_ids([["a", "b"]])
    ids[0, 0] = 0
    with pytest.raises(InvalidInputError, match="empty token slots"):
        tiny_model()(ids)


def test_lm_loss_is_mean_of_next_and_previous_unit_cross_entropies():
    model = tiny_model(vocab_size=7)
    sentences = [["a", "b", "c"], ["d"]]
    ids = batch_to_char_ids(sentences)
    _, lengths = mask_and_lengths(ids)
    char_ids = add_sentence_boundaries(ids, lengths)  # (2, 5, 50)
    unit_ids = torch.tensor([[0, 2, 3, 4, 1], [0, 5, 1, 0, 0]])
    result = model.language_model_loss(char_ids, unit_ids)
    _, forward, backward = model.encode(char_ids, lengths + 2)
    head = model.lm_head
    fwd_terms, bwd_terms = [], []
    for b, n in enumerate((lengths + 2).tolist()):
        for t in range(n - 1):
            fwd_terms.append(functional.cross_entropy(head(forward[-1][b, t]), unit_ids[b, t + 1]))
            bwd_terms.append(functional.cross_entropy(head(backward[-1][b, t + 1]), unit_ids[b, t]))
    assert result.count == len(fwd_terms) == 4 + 2
    torch.testing.assert_close(result.forward, torch.stack(fwd_terms).mean())
    torch.testing.assert_close(result.backward, torch.stack(bwd_terms).mean())
    torch.testing.assert_close(result.loss, (result.forward + result.backward) / 2)
    assert 0 < result.loss.item() < 3 * math.log(7)


@pytest.mark.parametrize(
    ("sentences", "unit_ids", "message"),
    [
        ([["a"]], torch.zeros(1, 2, dtype=torch.long), "unit ids have shape"),
        ([["a"]], torch.full((1, 3), 11), r"unit ids must lie in 0\.\.10"),
        ([], torch.zeros(0, 2, dtype=torch.long), "at least 2 units"),
    ],
)
def test_lm_loss_rejects_inconsistent_inputs(sentences, unit_ids, message):
    model = tiny_model("gru", vocab_size=11)
    ids = batch_to_char_ids(sentences)
    char_ids = add_sentence_boundaries(ids, mask_and_lengths(ids)[1])
    with pytest.raises(InvalidInputError, match=message):
        model.language_model_loss(char_ids, unit_ids)


def test_lm_loss_needs_an_lm_head():
    model = tiny_model()
    ids = add_sentence_boundaries(batch_to_char_ids([["a"]]), torch.tensor([1]))
    with pytest.raises(InvalidInputError, match="no LM head"):
        model.language_model_loss(ids, torch.zeros(1, 3, dtype=torch.long))


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_gradients_reach_every_parameter(cell):
    model = BiLM(tiny_config(cell, vocab_size=11)).train()
    sentences = random_sentences(4, 6, seed=1)
    ids = batch_to_char_ids(sentences)
    _, lengths = mask_and_lengths(ids)
    char_ids = add_sentence_boundaries(ids, lengths)
    unit_ids = torch.randint(0, 11, char_ids.shape[:2])
    model.language_model_loss(char_ids, unit_ids).loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        if name != "token_encoder.char_cnn.char_embedding.weight":
            assert torch.count_nonzero(param.grad) > 0, name
    # padding row 0 of the char embedding never learns
    assert torch.count_nonzero(model.token_encoder.char_cnn.char_embedding.weight.grad[0]) == 0


def test_dropout_acts_in_training_mode_only():
    model = tiny_model(dropout=0.5)
    ids = batch_to_char_ids([["a", "b", "c"]])
    with torch.no_grad():
        assert torch.equal(model(ids).layers, model(ids).layers)
        model.train()
        assert not torch.equal(model(ids).layers, model(ids).layers)
