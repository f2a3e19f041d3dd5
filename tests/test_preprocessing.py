import numpy as np
import pytest
from sklearn.base import clone

from sklstm.preprocessing import Vocabulary


def test_fit_transform_inverse():
    vocab = Vocabulary().fit(["b a b", "c b a", ["d"]])
    assert vocab.tokens_.tolist() == ["<unk>", "<eos>", "b", "a", "c", "d"]
    assert vocab.vocabulary_["b"] == 2
    ids = vocab.transform(["a b zzz", ["c"]])
    assert [i.tolist() for i in ids] == [[3, 2, 0, 1], [4, 1]]
    assert vocab.inverse_transform(ids) == [["a", "b", "<unk>", "<eos>"], ["c", "<eos>"]]


def test_min_frequency_max_tokens_and_no_eos():
    text = ["a a a b b c", "a b d"]
    assert Vocabulary(min_frequency=2).fit(text).tokens_.tolist() == ["<unk>", "<eos>", "a", "b"]
    assert Vocabulary(max_tokens=3).fit(text).tokens_.tolist() == ["<unk>", "<eos>", "a"]
    ids = Vocabulary(add_eos=False, max_tokens=3).fit(text).transform(["a c"])
    assert ids[0].tolist() == [2, 0]


def test_existing_special_tokens_are_not_duplicated():
    vocab = Vocabulary().fit(["x <unk> y <eos>"])
    assert vocab.tokens_.tolist().count("<unk>") == 1
    assert vocab.transform(["<unk>"])[0].tolist() == [0, 1]


def test_refit_per_clone():
    vocab = Vocabulary().fit(["a"])
    assert not hasattr(clone(vocab), "tokens_")


@pytest.mark.parametrize(
    "X, error, match",
    [
        ([], ValueError, "X is empty"),
        ("a b c", TypeError, "single string"),
        (["a", 3], TypeError, "Item 1 of X is int"),
        ([["a", 1]], TypeError, "Item 0 of X is list"),
        (5, TypeError, "iterable of strings"),
    ],
)
def test_bad_input(X, error, match):
    with pytest.raises(error, match=match):
        Vocabulary().fit(X)


def test_inverse_transform_out_of_range():
    vocab = Vocabulary().fit(["a"])
    with pytest.raises(ValueError, match="Ids must lie in"):
        vocab.inverse_transform([np.array([5])])
