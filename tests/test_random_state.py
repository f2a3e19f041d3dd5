"""fit leaves the caller's global random state as it was."""

import contextlib

import numpy as np
import pytest
import torch

from sklstm import SequenceClassifier, load, save
from sklstm._random import preserved_rng_state

X = np.random.RandomState(0).normal(size=(24, 6, 1))
Y = (X[:, :, 0].sum(1) > 0).astype(int)
SMALL = dict(num_hidden=4, max_epochs=2, n_networks=1, conv_dilations=(1,))


def _global_states():
    states = {"torch cpu": torch.random.get_rng_state()}
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            states[f"cuda:{i}"] = torch.cuda.get_rng_state(i)
    return states


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_fit_and_load_leave_the_global_generators_alone(device, tmp_path):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device here; the CUDA generators are checked where one is")
    torch.manual_seed(123)
    if device == "cuda":
        torch.cuda.manual_seed_all(123)
    numpy_before = np.random.get_state()[1].copy()
    before = _global_states()
    clf = SequenceClassifier(random_state=0, device=device, **SMALL).fit(X, Y)
    save(clf, tmp_path / "model")
    load(tmp_path / "model").predict(X)
    after = _global_states()
    assert before.keys() == after.keys()
    for name in before:
        assert torch.equal(before[name], after[name]), name
    # with an integer random_state, numpy's global generator is not drawn from
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_before)
    # and the fit did draw its own numbers: another seed, another model
    other = SequenceClassifier(random_state=1, device=device, **SMALL).fit(X, Y)
    assert not np.array_equal(other.predict_proba(X), clf.predict_proba(X))


def test_every_cuda_device_is_forked(monkeypatch):
    # the devices handed to fork_rng, on a machine that shows two GPUs
    seen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(
        torch.random, "fork_rng", lambda devices: seen.append(devices) or contextlib.nullcontext()
    )
    with preserved_rng_state():
        pass
    assert seen == [[0, 1]]
