"""Mixed precision on every CPU: bfloat16 where torch has the kernels, float32
recurrent layers where it has not (AVX2-only CPUs have no bfloat16 LSTM)."""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import sklstm
import sklstm._base
from sklstm import SequenceClassifier, SequenceLanguageModel
from sklstm.nn import _recurrent as modules
from sklstm.nn import low_precision_supported

TEXT = ["the cat sees fish", "a dog likes milk", "the bird sees seeds"] * 20
LM = dict(num_hidden=16, batch_size=4, bptt=6, lr=0.02, max_epochs=15,
          lr_schedule="constant", validation_fraction=None, random_state=0)


def _training_dtypes(net, x):
    """dtypes of the recurrent layers' and the head's outputs in one
    forward pass of the net's training step on ``x``."""
    module = net.module_
    seen = {}

    def record(name):
        def hook(part, args, out):
            seen.setdefault(name, (out[0] if isinstance(out, tuple) else out).dtype)

        return hook

    hooks = [
        part.register_forward_hook(record(name))
        for name, part in (("rnn", module.rnn), ("head", module.head))
    ]
    module.train()
    try:
        with net._autocast():
            module(x)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def test_probe_draws_no_random_numbers_and_is_cached():
    low_precision_supported.cache_clear()
    before = torch.random.get_rng_state()
    answer = low_precision_supported("lstm", "cpu", torch.bfloat16)
    assert isinstance(answer, bool)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert low_precision_supported.cache_info().hits == 0
    low_precision_supported("lstm", "cpu", torch.bfloat16)
    assert low_precision_supported.cache_info().hits == 1
    # autocast keeps GRUs in float32, so they never need the fallback
    assert low_precision_supported("gru", "cpu", torch.bfloat16)


def test_probe_says_no_when_the_kernel_is_missing(monkeypatch):
    def no_kernel(self, *args, **kwargs):
        raise RuntimeError("could not create a primitive descriptor for the LSTM")

    low_precision_supported.cache_clear()
    monkeypatch.setattr(nn.LSTM, "forward", no_kernel)
    try:
        assert low_precision_supported("lstm", "cpu", torch.bfloat16) is False
    finally:
        low_precision_supported.cache_clear()


@pytest.mark.parametrize("native", [True, False], ids=["bfloat16 LSTM", "float32 LSTM"])
def test_both_paths_train_in_mixed_precision(native, monkeypatch):
    if native and not low_precision_supported("lstm", "cpu", torch.bfloat16):
        pytest.skip(
            "this CPU has no bfloat16 LSTM kernel "
            f"({torch.backends.cpu.get_cpu_capability()}); the fallback is tested"
        )
    if not native:  # what an AVX2-only CPU answers
        monkeypatch.setattr(modules, "low_precision_supported", lambda *a: False)
        monkeypatch.setattr(sklstm._base, "low_precision_supported", lambda *a: False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lm = SequenceLanguageModel(precision="bfloat16", **LM).fit(TEXT)
    # where bfloat16 is emulated, fit says that float32 is faster
    slow = [w for w in caught if "Use precision='float32' on this CPU" in str(w.message)]
    assert len(slow) == (0 if native else 1)
    module = lm.net_.module_
    assert {p.dtype for p in module.parameters()} == {torch.float32}
    seen = _training_dtypes(lm.net_, torch.tensor([[1, 2, 3, 4]]))
    rnn = torch.bfloat16 if native else torch.float32
    assert seen == {"rnn": rnn, "head": torch.bfloat16}
    assert lm.perplexity(TEXT) < 3.5
    # the classifier, with a convolution front-end and ragged sequences
    rng = np.random.RandomState(0)
    X = [rng.normal(size=(rng.randint(5, 40), 2)) for _ in range(40)]
    y = np.array([int(x[:, 0].sum() > 0) for x in X])
    clf = SequenceClassifier(
        precision="bfloat16", num_hidden=8, max_epochs=5, conv_layers=1,
        conv_channels=8, n_networks=1, conv_dilations=(1,), random_state=0,
    ).fit(X, y)
    assert clf.predict_proba(X).dtype == np.float32
    x = torch.zeros(2, 6, 2)
    assert _training_dtypes(clf.net_, x) == {"rnn": rnn, "head": torch.bfloat16}


_AVX2_CHILD = textwrap.dedent(
    """
    import json, sys
    import torch
    from sklstm import SequenceLanguageModel
    from sklstm.nn import low_precision_supported

    text = ["the cat sees fish", "a dog likes milk", "the bird sees seeds"] * 10
    lm = SequenceLanguageModel(precision="bfloat16", num_hidden=8, max_epochs=2,
                               batch_size=4, bptt=6, random_state=0).fit(text)
    print(json.dumps({
        "supported": low_precision_supported("lstm", "cpu", torch.bfloat16),
        "perplexity": lm.perplexity(text),
    }))
    """
)


def test_bfloat16_trains_where_onednn_has_only_avx2():
    # oneDNN's own switch makes this CPU behave as an AVX2-only one: its
    # bfloat16 LSTM then fails with "could not create a primitive
    # descriptor", as on an AMD Zen 3 (on such a CPU the switch changes nothing)
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    done = subprocess.run(
        [sys.executable, "-c", _AVX2_CHILD], env=env, capture_output=True,
        text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["supported"] is False
    assert "Use precision='float32' on this CPU" in done.stderr
    assert np.isfinite(result["perplexity"])


_AVX2_LOAD_CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import torch
    import sklstm

    model = sklstm.load(sys.argv[1])
    X = np.load(sys.argv[2])
    proba = model.predict_proba(X).tolist()
    model.partial_fit(X, model.predict(X))  # training goes on, in float32 LSTMs
    print(json.dumps({
        "capability": torch.backends.cpu.get_cpu_capability(),
        "proba": proba,
        "finite": bool(np.isfinite(model.predict_proba(X)).all()),
    }))
    """
)


def test_bfloat16_model_moves_to_a_cpu_with_only_avx2(tmp_path):
    # CI machines differ: a model trained in bfloat16 on an AVX-512 CPU is
    # loaded, predicts and trains on one without bfloat16 kernels
    rng = np.random.RandomState(0)
    X, y = rng.randn(40, 12, 2), np.arange(40) % 3
    model = SequenceClassifier(precision="bfloat16", max_epochs=2, num_hidden=8,
                               n_networks=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # float32 is faster on an AVX2 CPU
        model.fit(X, y)
    sklstm.save(model, tmp_path / "model.sklstm")
    np.save(tmp_path / "X.npy", X)
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    done = subprocess.run(
        [sys.executable, "-c", _AVX2_LOAD_CHILD, str(tmp_path / "model.sklstm"),
         str(tmp_path / "X.npy")],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["capability"] == "AVX2"
    np.testing.assert_allclose(result["proba"], model.predict_proba(X), atol=1e-5)
    assert result["finite"]
    assert "Use precision='float32' on this CPU" in done.stderr
