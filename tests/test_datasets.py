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
