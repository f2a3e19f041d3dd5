"""Window slicing (``crop_fraction``, :class:`sklstm.nn.RandomCrop`): random
windows in training, whole sequences in evaluation."""

import numpy as np
import pytest
import torch

from sklstm import SequenceClassifier, load, save
from sklstm._auto import CROP_FRACTION, FEW_PER_CLASS, crop_fraction
from sklstm.datasets import make_few_shot
from sklstm.nn import RandomCrop, RecurrentNetwork


def _ramps(batch, n_steps, n_features=2):
    """Sequences whose steps are numbered (step t holds t in every feature),
    so that a window shows where it was taken."""
    steps = torch.arange(float(n_steps))[None, :, None]
    return steps.repeat(batch, 1, n_features)


@pytest.mark.parametrize("fraction", [0.3, 0.7, 0.99])
def test_windows_are_consecutive_steps_of_at_least_the_fraction(fraction):
    torch.manual_seed(0)
    crop = RandomCrop(fraction)
    for _ in range(20):
        windows, lengths = crop(_ramps(8, 50))
        assert lengths is None  # equal-length batches stay equal-length
        assert round(fraction * 50) <= windows.shape[1] <= 50
        assert torch.equal(windows.diff(dim=1), torch.ones_like(windows[:, 1:]))
        assert windows[:, 0, 0].min() >= 0 and windows[:, -1, 0].max() <= 49


def test_windows_differ_between_sequences_and_calls():
    torch.manual_seed(0)
    crop = RandomCrop(0.5)
    starts = torch.cat([crop(_ramps(16, 40))[0][:, 0, 0] for _ in range(5)])
    assert len(starts.unique()) > 5


def test_ragged_windows_read_real_steps_only():
    """Padding (NaN here) never enters a window's real steps, and each
    window's length is its own sequence's share."""
    torch.manual_seed(0)
    lengths = torch.tensor([30, 12, 3, 1])
    X = _ramps(4, 30)
    X[torch.arange(30)[None] >= lengths[:, None]] = float("nan")
    crop = RandomCrop(0.6)
    for _ in range(50):
        windows, kept = crop(X, lengths)
        assert kept.dtype == lengths.dtype
        assert torch.all(kept >= 1) and torch.all(kept <= lengths)
        assert windows.shape[1] == int(kept.max())
        for window, n, length in zip(windows, kept, lengths):
            real = window[:n, 0]
            assert not torch.isnan(real).any()
            assert torch.equal(real.diff(), torch.ones(int(n) - 1))
            assert real[-1] < length


def test_evaluation_and_fraction_one_leave_sequences_whole():
    X, lengths = _ramps(3, 10), torch.tensor([10, 7, 2])
    assert RandomCrop(0.5).eval()(X, lengths) == (X, lengths)
    assert RandomCrop(1.0)(X, lengths) == (X, lengths)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
        RandomCrop(0.0)


def test_the_network_crops_in_training_only():
    """Same weights with and without the crop: identical evaluation
    outputs (the crop has no weights), different training ones."""
    torch.manual_seed(0)
    params = dict(n_features=2, n_outputs=3, num_hidden=8, bidirectional=True,
                  pooling="max")
    plain = RecurrentNetwork(**params)
    cropped = RecurrentNetwork(**params, crop_fraction=0.5)
    cropped.load_state_dict(plain.state_dict())
    assert plain.state_dict().keys() == cropped.state_dict().keys()
    X = torch.randn(6, 40, 2)
    lengths = torch.tensor([40, 33, 20, 9, 40, 2])
    plain.eval(), cropped.eval()
    assert torch.equal(plain(X, lengths), cropped(X, lengths))
    plain.train(), cropped.train()
    torch.manual_seed(1)
    assert not torch.allclose(plain(X, lengths), cropped(X, lengths))
    with pytest.raises(ValueError, match="crop_fraction and summary_points need one output"):
        RecurrentNetwork(per_step=True, crop_fraction=0.5)


def test_auto_crops_where_classes_have_few_examples():
    few = np.repeat(np.arange(20), FEW_PER_CLASS)
    many = np.repeat(np.arange(3), FEW_PER_CLASS + 1)
    assert crop_fraction("auto", few) == CROP_FRACTION
    assert crop_fraction("auto", many) == 1.0
    assert crop_fraction(0.4, few) == 0.4


@pytest.fixture(scope="module")
def few_shot():
    X, y = make_few_shot(6, 3, 60, random_state=0)
    return X[:12], y[:12], X[12:], y[12:]


def test_the_classifier_takes_crop_fraction(few_shot, tmp_path):
    X, y, X_test, _ = few_shot
    fast = dict(num_hidden=8, max_epochs=3, n_networks=2, random_state=0)
    clf = SequenceClassifier(**fast, crop_fraction=0.6).fit(X, y)
    assert clf.crop_fraction_ == 0.6
    assert all(m.crop.fraction == 0.6 for m in clf.net_.module_.networks)
    whole = SequenceClassifier(**fast, crop_fraction=1.0).fit(X, y)
    assert whole.crop_fraction_ == 1.0 and whole.net_.module_.networks[0].crop is None
    # the saved model predicts the same and keeps its crop for more training
    path = tmp_path / "clf.sklstm"
    save(clf, path)
    loaded = load(path)
    assert loaded.crop_fraction_ == 0.6
    assert loaded.net_.module_.networks[0].crop.fraction == 0.6
    np.testing.assert_array_equal(loaded.predict_proba(X_test), clf.predict_proba(X_test))


def test_auto_windows_few_shot_data_only(few_shot):
    X, y, _, _ = few_shot  # two series a class
    fast = dict(num_hidden=8, max_epochs=2, n_networks=1, conv_dilations=(1,),
                random_state=0)
    clf = SequenceClassifier(**fast).fit(X, y)
    assert clf.crop_fraction_ == CROP_FRACTION
    assert clf.net_.module_.crop.fraction == CROP_FRACTION
    many = np.repeat(np.arange(2), 8)
    clf = SequenceClassifier(**fast).fit(np.resize(X, (16, X.shape[1])), many)
    assert clf.crop_fraction_ == 1.0 and clf.net_.module_.crop is None


@pytest.mark.parametrize("bad", [0, 1.5, -0.2, "half"])
def test_crop_fraction_is_validated(few_shot, bad):
    X, y, _, _ = few_shot
    with pytest.raises(ValueError, match="crop_fraction"):
        SequenceClassifier(crop_fraction=bad, max_epochs=1).fit(X, y)


def test_a_verbose_fit_states_the_plan_and_the_windows(few_shot, capsys):
    X, y, _, _ = few_shot
    clf = SequenceClassifier(num_hidden=8, max_epochs=2, n_networks=2, conv_dilations=(1,),
                             random_state=0, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert ("[SequenceClassifier] fit plan: 2 epochs, 2 networks, inner search: no, "
            f"training windows: at least {CROP_FRACTION:g} of each series") in out
    assert f"estimated work {clf.fit_plan_['work'] / 1e6:.1f} M units" in out
