import numpy as np
import pytest

from sklstm.datasets import make_bit_counting


def test_all_strings_once_and_shuffled():
    X, y = make_bit_counting(n_bits=10, random_state=0)
    assert X.shape == (1024, 10) and y.shape == (1024,)
    codes = X @ (1 << np.arange(9, -1, -1))
    assert len(np.unique(codes)) == 1024
    assert not np.all(np.diff(codes) > 0)  # shuffled
    np.testing.assert_array_equal(y, X.sum(axis=1))
    X2, _ = make_bit_counting(n_bits=10, random_state=0)
    np.testing.assert_array_equal(X, X2)


def test_sample_and_3d_layout():
    X, y = make_bit_counting(n_bits=20, n_samples=500, three_d=True, random_state=1)
    assert X.shape == (500, 20, 1)
    assert set(np.unique(X)) <= {0, 1}
    assert len(np.unique(X[:, :, 0] @ (1 << np.arange(20)))) == 500
    np.testing.assert_array_equal(y, X.sum(axis=(1, 2)))


def test_bad_parameters():
    with pytest.raises(ValueError, match="more than the 16 distinct strings"):
        make_bit_counting(n_bits=4, n_samples=17)
    with pytest.raises(ValueError, match="n_bits"):
        make_bit_counting(n_bits=0)


# -- the synthetic stress sets ------------------------------------------------

from sklstm.datasets import (  # noqa: E402
    make_band_spectra,
    make_bump_position,
    make_few_shot,
    make_hidden_pattern,
    make_informative_channel,
    make_ragged_lengths,
    make_scatter_spectra,
)


def _nearest_neighbour_accuracy(X, y):
    """Leave-one-out 1-NN accuracy (Euclidean) on equal-length series."""
    d = ((X[:, None] - X[None]) ** 2).sum(axis=tuple(range(2, X.ndim + 1)))
    np.fill_diagonal(d, np.inf)
    return float((y[d.argmin(axis=1)] == y).mean())


@pytest.mark.parametrize(
    "make",
    [make_few_shot, make_ragged_lengths, make_bump_position, make_hidden_pattern,
     make_informative_channel, make_band_spectra, make_scatter_spectra],
)
def test_stress_sets_are_reproducible(make):
    first, second = make(random_state=3), make(random_state=3)
    other = make(random_state=4)
    for a, b in zip(first, second):
        if isinstance(a, list):
            assert all(np.array_equal(u, v) for u, v in zip(a, b))
        else:
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.asarray(first[1]), np.asarray(other[1])) or not (
        np.array_equal(np.asarray(first[0][0]), np.asarray(other[0][0]))
    )


def test_few_shot_has_few_series_per_class_and_a_learnable_class():
    X, y = make_few_shot(n_classes=20, n_per_class=3, n_steps=200, random_state=0)
    assert X.shape == (60, 200)
    np.testing.assert_array_equal(np.bincount(y), np.full(20, 3))
    # the class is in the series (chance is 0.05), but warped: a plain
    # Euclidean nearest neighbour finds it for about half of them
    assert _nearest_neighbour_accuracy(X, y) > 0.4


def test_ragged_lengths_vary_tenfold():
    X, y = make_ragged_lengths(n_samples=300, min_length=30, max_length=300, random_state=0)
    lengths = np.array([len(x) for x in X])
    assert lengths.min() >= 30 and lengths.max() <= 300
    assert lengths.max() / lengths.min() > 7
    assert len(y) == 300 and set(y) == set(range(5))
    with pytest.raises(ValueError, match="min_length=50 is above max_length=40"):
        make_ragged_lengths(min_length=50, max_length=40)


def test_bump_position_is_where_the_maximum_is():
    X, y = make_bump_position(n_samples=200, n_steps=100, noise=0.0, random_state=0)
    assert X.shape == (200, 100) and 0.1 <= y.min() and y.max() <= 0.9
    np.testing.assert_allclose(X.argmax(axis=1), y * 100, atol=1)
    # pooled over time, the series say nothing about the target
    for pooled in (X.mean(axis=1), X.max(axis=1)):
        assert abs(np.corrcoef(pooled, y)[0, 1]) < 0.2


def test_band_spectra_are_linear_in_two_bands():
    from sklearn.linear_model import Ridge

    X, y = make_band_spectra(n_samples=400, n_steps=100, random_state=0)
    assert X.shape == (400, 100) and y.shape == (400,)
    # a linear model on the raw values explains most of the target ...
    fit = Ridge(alpha=1e-3).fit(X[:300], y[:300])
    residual = y[300:] - fit.predict(X[300:])
    assert residual.std() < 0.3 * y[300:].std()
    # ... which pooling over time hides
    for pooled in (X.mean(axis=1), X.max(axis=1)):
        assert abs(np.corrcoef(pooled, y)[0, 1]) < 0.5
    with pytest.raises(ValueError, match="n_bands"):
        make_band_spectra(n_bands=4)


def test_scatter_spectra_are_linear_only_without_the_scatter():
    from sklearn.linear_model import Ridge

    def ridge_residual(**params):
        X, y = make_scatter_spectra(n_samples=400, random_state=0, **params)
        fit = Ridge(alpha=1e-3).fit(X[:300], y[:300])
        return (y[300:] - fit.predict(X[300:])).std() / y[300:].std()

    X, y = make_scatter_spectra(n_samples=400, random_state=0)
    assert X.shape == (400, 100) and y.shape == (400,)
    assert 2 <= y.min() and y.max() <= 50
    # unscaled, the spectra are linear in the target; scaled, they are not
    assert ridge_residual(scatter=0.0) < 0.05
    assert ridge_residual() > 0.15
    with pytest.raises(ValueError, match="scatter"):
        make_scatter_spectra(scatter=-1.0)


def test_hidden_pattern_is_short_and_anywhere():
    X, y = make_hidden_pattern(n_samples=300, n_steps=500, pattern_length=20,
                               noise=0.0, random_state=0)
    # without noise, the pattern is the only non-zero stretch
    nonzero = np.abs(X) > 0
    assert (nonzero.sum(axis=1) <= 20).all()
    starts = nonzero.argmax(axis=1)
    assert starts.min() < 50 and starts.max() > 400
    with pytest.raises(ValueError, match="longer than n_steps"):
        make_hidden_pattern(n_steps=10, pattern_length=20)


def test_one_channel_informs():
    X, y, channel = make_informative_channel(n_samples=150, n_channels=10, random_state=0)
    assert X.shape == (150, 100, 10)
    alone = _nearest_neighbour_accuracy(X[:, :, channel], y)
    others = _nearest_neighbour_accuracy(np.delete(X, channel, axis=2), y)
    assert alone > 0.9 and others < 0.6
