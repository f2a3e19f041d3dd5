"""Word vocabulary: tokens to integer ids and back."""

from collections import Counter
from numbers import Integral

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._compat import fit_context, Interval

UNK = "<unk>"
EOS = "<eos>"


def is_text(X):
    """Whether X looks like text: strings, or sequences of string tokens."""
    if isinstance(X, str) or hasattr(X, "columns") or sparse.issparse(X):
        return False  # a DataFrame iterates over its column names
    if isinstance(X, np.ndarray) and X.dtype.kind in "US":
        return True
    try:
        first = next(iter(X))
    except (TypeError, StopIteration):
        return False
    if isinstance(first, str):
        return True
    if isinstance(first, np.ndarray):
        return first.dtype.kind in "US" or (
            first.dtype == object and len(first) > 0 and isinstance(first[0], str)
        )
    if isinstance(first, (list, tuple)):
        return len(first) > 0 and isinstance(first[0], str)
    return False


def tokenize(X):
    """Turn X, strings or token sequences, into a list of token lists.

    Strings are split on white space. Anything else is an error that names
    the offending item.
    """
    if isinstance(X, str):
        raise TypeError(
            "X must be an iterable of texts, got a single string; wrap it in a "
            "list: [text]."
        )
    try:
        items = list(X)
    except TypeError as exc:
        raise TypeError(
            f"X must be an iterable of strings or token lists, got "
            f"{type(X).__name__}."
        ) from exc
    if not items:
        raise ValueError("X is empty: found 0 texts while at least 1 is required.")
    docs = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            docs.append(item.split())
        elif isinstance(item, (list, tuple, np.ndarray)) and all(
            isinstance(tok, str) for tok in item
        ):
            docs.append(list(item))
        else:
            raise TypeError(
                f"Item {i} of X is {type(item).__name__} {item!r:.60}; each item "
                "must be a string (split on white space) or a list of string "
                "tokens."
            )
    return docs


class Vocabulary(TransformerMixin, BaseEstimator):
    """Map words to integer ids, with ``<unk>`` for unknown words.

    Fitted on training text, it keeps the words seen at least
    ``min_frequency`` times (the ``max_tokens`` most frequent, when set).
    Id 0 is ``<unk>`` and id 1 ``<eos>``, the end-of-sentence marker;
    the other words follow by decreasing frequency, ties alphabetically.

    Parameters
    ----------
    min_frequency : int, default=1
        Words seen fewer times in the training text become ``<unk>``.
    max_tokens : int or None, default=None
        Largest vocabulary size, the two special tokens included.
    add_eos : bool, default=True
        Append ``<eos>`` to every sentence in :meth:`transform`.

    Attributes
    ----------
    vocabulary_ : dict
        Word to id.
    tokens_ : ndarray of shape (n_tokens,)
        Word of each id; ``tokens_[0] == "<unk>"``, ``tokens_[1] == "<eos>"``.

    Examples
    --------
    >>> from sklstm.preprocessing import Vocabulary
    >>> vocab = Vocabulary().fit(["the cat sat", "the dog"])
    >>> vocab.tokens_
    array(['<unk>', '<eos>', 'the', 'cat', 'dog', 'sat'], dtype=object)
    >>> ids = vocab.transform(["the bird sat"])
    >>> ids
    [array([2, 0, 5, 1])]
    >>> vocab.inverse_transform(ids)
    [['the', '<unk>', 'sat', '<eos>']]
    """

    # the fitted state in sklstm.save's files: field -> attribute
    _saved_fields = {"tokens_": "tokens_", "vocabulary_": "vocabulary_"}

    _parameter_constraints = {
        "min_frequency": [Interval(Integral, 1, None, closed="left")],
        "max_tokens": [Interval(Integral, 2, None, closed="left"), None],
        "add_eos": ["boolean"],
    }

    def __init__(self, *, min_frequency=1, max_tokens=None, add_eos=True):
        self.min_frequency = min_frequency
        self.max_tokens = max_tokens
        self.add_eos = add_eos

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the vocabulary of X.

        Parameters
        ----------
        X : iterable of str or of lists of str
            Sentences, split on white space, or token lists.
        y : None
            Ignored.

        Returns
        -------
        self : Vocabulary
            The fitted transformer.
        """
        counts = Counter(tok for doc in tokenize(X) for tok in doc)
        counts.pop(UNK, None)
        counts.pop(EOS, None)
        words = sorted(
            (w for w, c in counts.items() if c >= self.min_frequency),
            key=lambda w: (-counts[w], w),
        )
        if self.max_tokens is not None:
            words = words[: self.max_tokens - 2]
        self.tokens_ = np.array([UNK, EOS, *words], dtype=object)
        self.vocabulary_ = {w: i for i, w in enumerate(self.tokens_)}
        return self

    def transform(self, X):
        """Ids of the words of each sentence (``<unk>`` for unknown words).

        Parameters
        ----------
        X : iterable of str or of lists of str
            Sentences.

        Returns
        -------
        ids : list of ndarray of int64
            One array per sentence, ending in ``<eos>`` when ``add_eos``.
        """
        check_is_fitted(self)
        get = self.vocabulary_.get
        eos = [1] if self.add_eos else []
        return [
            np.array([get(tok, 0) for tok in doc] + eos, dtype=np.int64)
            for doc in tokenize(X)
        ]

    def inverse_transform(self, X):
        """Words of id sequences.

        Parameters
        ----------
        X : iterable of arrays of int
            Id sequences.

        Returns
        -------
        tokens : list of list of str
            The words.
        """
        check_is_fitted(self)
        n = len(self.tokens_)
        out = []
        for ids in X:
            ids = np.asarray(ids)
            if ids.size and (ids.min() < 0 or ids.max() >= n):
                raise ValueError(f"Ids must lie in [0, {n}), got {ids.min()}..{ids.max()}.")
            out.append(self.tokens_[ids].tolist())
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags
