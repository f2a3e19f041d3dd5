"""checkpoint_dir: per-epoch checkpoints, and fits that resume from them,
tested for real by killing a training process."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from skorch.callbacks import Callback

import sklstm
from sklstm import SequenceClassifier, SequenceLanguageModel, SequenceRegressor

pytest.importorskip("safetensors", reason="checkpoints need safetensors")
pytestmark = pytest.mark.usefixtures("sigint_raises_keyboard_interrupt")

rng = np.random.RandomState(0)
X = rng.rand(60, 12, 2).astype(np.float32)
Y = (X.sum(axis=(1, 2)) > 12).astype(int)
PARAMS = dict(max_epochs=6, batch_size=8, num_layers=2, dropout=0.2, random_state=0,
              n_networks=1, conv_dilations=(1,))


class _Interrupt(Callback):
    """Ctrl+C in the middle of epoch ``epoch`` (after two of its batches): a
    real SIGINT, which Python turns into KeyboardInterrupt where the process
    is at the time."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_batch_end(self, net, **kwargs):
        if len(net.history) == self.epoch and len(net.history[-1]["batches"]) == 2:
            signal.raise_signal(signal.SIGINT)


def _history(est):
    return est.history_.drop(columns="dur")


def _checkpoint(directory):
    return os.path.join(directory, "checkpoint.safetensors")


@pytest.mark.parametrize(
    "Estimator, params, fit_args",
    [
        (SequenceClassifier, dict(n_networks=2), (X, Y)),
        (SequenceClassifier, dict(lr_schedule="cosine"), (X, Y)),
        (
            SequenceClassifier,
            dict(early_stopping=True, n_iter_no_change=2, lr_schedule="plateau", lr=0.1),
            (X, Y),
        ),
        (SequenceRegressor, dict(conv_layers=1), (X, X[:, :3, 0].sum(1))),
    ],
    ids=["onecycle, two networks", "cosine", "early stopping, plateau", "regressor, conv"],
)
def test_interrupted_fit_resumes_to_the_same_model(
    Estimator, params, fit_args, tmp_path, monkeypatch
):
    reference = Estimator(**{**PARAMS, **params}).fit(*fit_args)
    directory = str(tmp_path / "ckpt")
    # Ctrl+C in epoch 3: fit returns, the checkpoint holds epochs 1-2
    stopped = Estimator(
        **{**PARAMS, **params}, checkpoint_dir=directory, callbacks=[_Interrupt(3)]
    ).fit(*fit_args)
    assert stopped.n_iter_ == 3  # the interrupted epoch, in memory only
    saved = sklstm.load(_checkpoint(directory))
    assert saved.n_iter_ == 2
    assert saved.predict(fit_args[0]).shape == stopped.predict(fit_args[0]).shape

    def search_again(*args, **kwargs):
        raise AssertionError("the resumed fit searched again")

    # the resumed fit takes the interrupted fit's inner search (the regressor
    # searches here) from the checkpoint
    monkeypatch.setattr(Estimator, "_search", search_again)
    resumed = Estimator(**{**PARAMS, **params}, checkpoint_dir=directory).fit(*fit_args)
    assert (reference.auto_search_ is not None) == (Estimator is SequenceRegressor)
    if reference.auto_search_ is not None:
        assert resumed.auto_search_["best_params"] == reference.auto_search_["best_params"]
        np.testing.assert_array_equal(
            resumed.auto_search_["split_test_scores"],
            reference.auto_search_["split_test_scores"],
        )
    assert resumed.n_iter_ == reference.n_iter_
    pd.testing.assert_frame_equal(_history(resumed), _history(reference))
    np.testing.assert_array_equal(resumed.predict(X), reference.predict(X))

    # the training had finished: a new fit returns at once, same model
    again = Estimator(**{**PARAMS, **params}, checkpoint_dir=directory).fit(*fit_args)
    pd.testing.assert_frame_equal(_history(again), _history(reference))
    np.testing.assert_array_equal(again.predict(X), reference.predict(X))


def test_language_model_resumes(tmp_path):
    text = ["the cat sat on the mat", "a dog ran off", "the bird flew away"] * 20
    params = dict(max_epochs=4, num_hidden=8, batch_size=4, dropout=0.3, random_state=0)
    reference = SequenceLanguageModel(**params).fit(text)
    directory = str(tmp_path / "lm")
    SequenceLanguageModel(
        **params, checkpoint_dir=directory, callbacks=[_Interrupt(3)]
    ).fit(text)
    resumed = SequenceLanguageModel(**params, checkpoint_dir=directory).fit(text)
    pd.testing.assert_frame_equal(_history(resumed), _history(reference))
    assert resumed.perplexity(text) == reference.perplexity(text)


def test_checkpoint_must_match_parameters_and_data(tmp_path):
    directory = str(tmp_path / "ckpt")
    SequenceClassifier(**PARAMS, checkpoint_dir=directory).fit(X, Y)
    with pytest.raises(ValueError, match="other parameters.*delete the file"):
        SequenceClassifier(**{**PARAMS, "lr": 0.5}, checkpoint_dir=directory).fit(X, Y)
    with pytest.raises(ValueError, match="other data"):
        SequenceClassifier(**PARAMS, checkpoint_dir=directory).fit(X[:-1], Y[:-1])
    # verbose, device and callbacks may change
    SequenceClassifier(**PARAMS, checkpoint_dir=directory, verbose=0, device="cpu").fit(X, Y)
    # a saved model is not a checkpoint
    sklstm.save(SequenceClassifier(**PARAMS).fit(X, Y), _checkpoint(directory))
    with pytest.raises(ValueError, match="not a checkpoint"):
        SequenceClassifier(**PARAMS, checkpoint_dir=directory).fit(X, Y)
    # deleting the file starts over
    os.remove(_checkpoint(directory))
    assert SequenceClassifier(**PARAMS, checkpoint_dir=directory).fit(X, Y).n_iter_ == 6


def test_checkpoint_dir_that_cannot_be_a_folder(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match=r"checkpoint_dir=.*notes.txt' is a file"):
        SequenceClassifier(**PARAMS, checkpoint_dir=a_file).fit(X, Y)
    with pytest.raises(OSError, match=r"checkpoint_dir=.*cannot be created.*can be written"):
        SequenceClassifier(**PARAMS, checkpoint_dir=a_file / "below").fit(X, Y)


def test_checkpoints_are_written_every_epoch_and_atomically(tmp_path):
    directory = tmp_path / "new" / "dir"
    seen = []

    class Watch(Callback):
        def on_epoch_begin(self, net, **kwargs):
            path = _checkpoint(directory)
            seen.append(sklstm.load(path).n_iter_ if os.path.exists(path) else 0)

    SequenceClassifier(**PARAMS, checkpoint_dir=directory, callbacks=[Watch()]).fit(X, Y)
    assert seen == [0, 1, 2, 3, 4, 5]
    assert sorted(os.listdir(directory)) == ["checkpoint.safetensors"]  # no temp files


def test_warm_start_and_partial_fit_write_no_checkpoint(tmp_path):
    directory = tmp_path / "ckpt"
    clf = SequenceClassifier(**PARAMS, checkpoint_dir=directory)
    clf.partial_fit(X, Y, classes=[0, 1])
    assert not directory.exists()


_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from skorch.callbacks import Callback
    from sklstm import SequenceClassifier

    directory, out, slow = sys.argv[1], sys.argv[2], sys.argv[3] == "slow"
    rng = np.random.RandomState(0)
    X = rng.rand(60, 12, 2).astype(np.float32)
    y = (X.sum(axis=(1, 2)) > 12).astype(int)

    class Slow(Callback):
        def on_epoch_begin(self, net, **kwargs):
            print("epoch", len(net.history), flush=True)

        def on_batch_end(self, net, **kwargs):
            time.sleep(0.05)

    clf = SequenceClassifier(
        max_epochs=6, batch_size=8, num_layers=2, dropout=0.2, random_state=0,
        n_networks=1,
        checkpoint_dir=None if directory == "-" else directory,
        callbacks=[Slow()] if slow else None,
    ).fit(X, y)
    np.save(out + ".npy", clf.predict_proba(X))
    clf.history_.drop(columns="dur").to_json(out + ".json")
    print("done", clf.n_iter_, flush=True)
    """
)


def _run_child(script, *args):
    return subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def child_script(tmp_path_factory):
    """The training script, and the outputs of one uninterrupted run of its
    fit, here (the same fit in another process gives the same model)."""
    directory = tmp_path_factory.mktemp("child")
    script = directory / "child.py"
    script.write_text(_CHILD)
    clf = SequenceClassifier(
        max_epochs=6, batch_size=8, num_layers=2, dropout=0.2, random_state=0,
        n_networks=1,
    ).fit(X, Y)
    ref = directory / "ref"
    np.save(f"{ref}.npy", clf.predict_proba(X))
    _history(clf).to_json(f"{ref}.json")
    return script, ref


# Ctrl+C (a real SIGINT) is tested in this process, above; a killed process
# resumes in a new one
def test_killed_process_resumes_in_a_fresh_one(child_script, tmp_path):
    script, ref = child_script
    directory = str(tmp_path / "ckpt")

    child = subprocess.Popen(
        [sys.executable, str(script), directory, str(tmp_path / "killed"), "slow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in child.stdout:
            if line.strip() == "epoch 3":
                break
        time.sleep(0.12)  # two or three batches into epoch 3
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == -signal.SIGKILL
    # only the interrupted epoch is lost
    assert sklstm.load(_checkpoint(directory)).n_iter_ == 2

    resumed = _run_child(script, directory, str(tmp_path / "resumed"), "fast")
    assert resumed.returncode == 0, resumed.stderr
    assert "done 6" in resumed.stdout
    np.testing.assert_array_equal(
        np.load(tmp_path / "resumed.npy"), np.load(f"{ref}.npy")
    )
    pd.testing.assert_frame_equal(
        pd.read_json(tmp_path / "resumed.json"), pd.read_json(f"{ref}.json")
    )
