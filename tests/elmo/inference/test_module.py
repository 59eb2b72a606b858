import pytest
import torch

from elmo.errors import InvalidInputError
from elmo.inference.module import Elmo
from elmo.io.bundle import save_bundle
from elmo.nn.chars import sentence_char_ids
from elmo.nn.scalar_mix import ScalarMix
from elmo.tokenization import SentencePieceUnits, train_sentencepiece
from factories import ELMO_REFERENCE, FIXTURES, random_sentences, tiny_model

TAGS = {"the": 0, "a": 0, "cat": 1, "dog": 1, "mat": 1, "sat": 2, "ran": 2, "on": 3, "under": 3}


def tagging_data(count: int, seed: int) -> tuple[list[list[str]], list[list[int]]]:
    generator = torch.Generator().manual_seed(seed)
    words = list(TAGS)
    sentences = [
        [words[int(i)] for i in torch.randint(len(words), (int(n),), generator=generator)]
        for n in torch.randint(2, 9, (count,), generator=generator)
    ]
    return sentences, [[TAGS[w] for w in s] for s in sentences]


def test_a_small_tagger_on_frozen_elmo_learns():
    elmo = Elmo(ELMO_REFERENCE, num_output_representations=1, dropout=0.1)
    tagger = torch.nn.Linear(elmo.output_dim, 4)
    params = [p for p in elmo.parameters() if p.requires_grad] + list(tagger.parameters())
    assert {id(p) for p in params} >= {id(elmo.mixes[0].weights), id(elmo.mixes[0].gamma)}
    optimizer = torch.optim.Adam(params, lr=0.05)
    sentences, tags = tagging_data(32, seed=0)
    target = torch.nn.utils.rnn.pad_sequence([torch.tensor(t) for t in tags], True, -100)
    losses = []
    for _ in range(40):
        output = elmo(sentences)
        logits = tagger(output.representations[0])  # (B, T, 4)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert all(p.grad is None for p in elmo.bilm.parameters())  # frozen biLM


def test_representations_mask_and_mix_match_the_biLM():
    elmo = Elmo(ELMO_REFERENCE, num_output_representations=2, dropout=0.0).eval()
    sentences = [["El", "gato"], ["Hola", "!", "x"], []]
    output = elmo(sentences)
    assert len(output.representations) == 2
    assert output.mask.tolist() == [[True, True, False], [True, True, True], [False] * 3]
    layers = elmo.bilm(torch.stack([sentence_char_ids(s) for s in sentences[1:2]])).layers
    expected = ScalarMix(3)(layers, torch.ones(1, 3, dtype=torch.bool))
    torch.testing.assert_close(output.representations[0][1], expected[0])
    assert torch.count_nonzero(output.representations[1][0, 2]) == 0


def test_fine_tuning_reaches_the_biLM_and_frozen_biLM_stays_in_eval_mode():
    frozen = Elmo(ELMO_REFERENCE).train()
    assert not frozen.bilm.training and frozen.training
    tuned = Elmo(ELMO_REFERENCE, requires_grad=True, dropout=0.0).train()
    tuned(random_sentences(3, 5, seed=1)).representations[0].sum().backward()
    assert all(p.grad is not None for p in tuned.bilm.token_encoder.parameters())


def test_sentencepiece_bundles_pool_pieces_into_words(tmp_path):
    lines = (FIXTURES / "corpus" / "valid.txt").read_text(encoding="utf-8").splitlines()
    units = SentencePieceUnits(train_sentencepiece(lines, vocab_size=400))
    save_bundle(tiny_model("gru"), tmp_path, tokenizer=units)
    elmo = Elmo(tmp_path, dropout=0.0).eval()
    output = elmo([["whale", "Ishmael"], ["sea"]])
    assert output.representations[0].shape == (2, 2, 12)
    assert output.mask.tolist() == [[True, True], [True, False]]


def test_a_words_vector_is_the_mean_of_its_pieces_with_the_same_bits_alone_and_in_a_batch(
    tmp_path,
):
    lines = (FIXTURES / "corpus" / "valid.txt").read_text(encoding="utf-8").splitlines()
    units = SentencePieceUnits(train_sentencepiece(lines, vocab_size=400))
    save_bundle(tiny_model("gru"), tmp_path, tokenizer=units)
    elmo = Elmo(tmp_path, dropout=0.0).eval()
    sentences = [["whale", "Ishmael", "sea"], ["sea"], ["Queequeg", "harpooneer", "a", "b"]]
    assert any(len(w) > 1 for s in sentences for w in units.encode_words(s))  # pieces to pool
    with torch.no_grad():
        together, _ = elmo.layers(sentences)  # (L, B, W, 2D)
        for b, sentence in enumerate(sentences):
            alone, _ = elmo.layers([sentence])
            assert torch.equal(alone[:, 0], together[:, b, : len(sentence)])
        word_pieces = units.encode_words(sentences[2])
        ids = torch.tensor([i for w in word_pieces for i in w])
        pieces = elmo.bilm(elmo.unit_char_ids[ids][None]).layers[:, 0]  # (L, P, 2D)
    start = 0
    for w, piece_ids in enumerate(word_pieces):
        mean = pieces[:, start : start + len(piece_ids)].mean(dim=1)
        torch.testing.assert_close(together[:, 2, w], mean)
        start += len(piece_ids)


def test_bad_arguments_are_rejected():
    with pytest.raises(InvalidInputError, match="num_output_representations"):
        Elmo(ELMO_REFERENCE, num_output_representations=0)
    with pytest.raises(InvalidInputError, match="expected str"):
        Elmo(ELMO_REFERENCE)([["ok", 3]])
