"""A tiny whitespace tokenizer and vocabulary; one test here fails on purpose."""

import pytest


def tokenize(text):
    return text.lower().split()


def build_vocab(texts):
    vocab = {"<unk>": 0}
    for text in texts:
        for token in tokenize(text):
            vocab.setdefault(token, len(vocab))
    return vocab


def test_tokenize_lowercases():
    assert tokenize("Hello World") == ["hello", "world"]


def test_tokenize_empty():
    assert tokenize("") == []


def test_vocab_ids_are_dense():
    vocab = build_vocab(["a b", "b c"])
    assert sorted(vocab.values()) == list(range(len(vocab)))


def test_vocab_keeps_unknown_token():
    assert build_vocab([])["<unk>"] == 0


@pytest.mark.parametrize("text,count", [("a", 1), ("a b", 2), ("a  b   c", 3)])
def test_tokenize_counts(text, count):
    assert len(tokenize(text)) == count


def test_tokenize_keeps_punctuation_separate():
    # Fails on purpose: the quickstart shows how dtf reports a red test.
    assert tokenize("hello, world") == ["hello", ",", "world"]


@pytest.mark.skip(reason="byte-pair encoding is not implemented in this example")
def test_bpe_merges():
    pass
