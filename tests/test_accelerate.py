"""Data-parallel training through Accelerate on two CPU processes (gloo)."""

import json
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from skorch.dataset import Dataset

from sklstm._data import BatchIterator, WindowIterator


@pytest.mark.parametrize("n_samples", [11, 12, 32])
@pytest.mark.parametrize("num_shards", [2, 3])
def test_batch_iterator_shards_every_sample(n_samples, num_shards):
    X = torch.arange(n_samples, dtype=torch.float32)[:, None, None]
    data = Dataset(X, torch.arange(n_samples))
    shards = [
        [
            yb.tolist()
            for _, yb in BatchIterator(
                data, 4, shuffle=True, random_state=np.random.RandomState(0),
                num_shards=num_shards, shard=k,
            )
        ]
        for k in range(num_shards)
    ]
    # as many steps, of as many sequences, in every process
    assert len({len(s) for s in shards}) == 1
    assert len(shards[0]) == len(BatchIterator(data, 4, num_shards=num_shards))
    for step in zip(*shards):
        assert len({len(b) for b in step}) == 1
    seen = [i for s in shards for b in s for i in b]
    assert set(seen) == set(range(n_samples))
    # only the last global batch is filled up, from the start of the order
    assert len(seen) - n_samples < num_shards


def test_window_iterator_gives_each_process_its_columns():
    stream = torch.arange(40)
    X = stream.reshape(4, 10)  # 4 columns: contiguous parts of the stream
    shards = [
        torch.cat(
            [xb for xb, _ in WindowIterator(Dataset(X, X), bptt=3, num_shards=2, shard=k)],
            dim=1,
        )
        for k in range(2)
    ]
    assert shards[0].tolist() == X[:2].tolist()
    assert shards[1].tolist() == X[2:].tolist()


_CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np, torch
    from accelerate import Accelerator
    from sklstm import SequenceClassifier, SequenceLanguageModel

    accelerator = Accelerator(cpu=True)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 15, 2)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(int)
    clf = SequenceClassifier(
        max_epochs=8, batch_size=16, random_state=0, accelerator=accelerator,
        early_stopping=True, n_iter_no_change=2, n_networks=1,
    ).fit(X, y)
    params = torch.cat([p.detach().flatten() for p in clf.net_.module_.parameters()])
    text = ["the cat sat on the mat", "a dog ran off", "the bird flew away"] * 20
    lm = SequenceLanguageModel(
        max_epochs=2, num_hidden=8, batch_size=4, random_state=0,
        accelerator=accelerator, softmax_cutoff=5,
    ).fit(text)
    lm_params = torch.cat([p.detach().flatten() for p in lm.net_.module_.parameters()])
    # one file per rank: two processes printing long lines to one pipe
    # can interleave them
    out = Path(sys.argv[1]) / f"rank{accelerator.process_index}.json"
    out.write_text(json.dumps(dict(
        rank=accelerator.process_index,
        n_processes=accelerator.num_processes,
        params=params.tolist(),
        history=clf.history_[["train_loss", "valid_loss"]].values.tolist(),
        n_iter=clf.n_iter_,
        proba=clf.predict_proba(X).tolist(),
        lm_params=lm_params.tolist(),
        lm_history=lm.history_["train_loss"].tolist(),
        lm_perplexity=lm.perplexity(text),
        lm_shard=[getattr(lm.net_, "iterator_train__shard", 0),
                  getattr(lm.net_, "iterator_train__num_shards", 1)],
    )))
    """
)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp_path, n_processes):
    pytest.importorskip("accelerate", reason="data-parallel training needs accelerate")
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    results = tmp_path / f"results{n_processes}"
    results.mkdir()
    command = [
        sys.executable, "-m", "torch.distributed.run",
        f"--nproc_per_node={n_processes}", f"--master_port={_free_port()}",
        str(script), str(results),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [
        json.loads((results / f"rank{rank}.json").read_text())
        for rank in range(n_processes)
    ]


def test_two_processes_train_one_model(tmp_path):
    ranks = _run(tmp_path, 2)
    # both processes really ran, as two ranks of one job
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["n_processes"] == 2 for r in ranks)
    first, second = ranks
    # identical parameters, history (early stopping included) and predictions
    assert first["params"] == second["params"]
    assert first["history"] == second["history"]
    assert first["n_iter"] == second["n_iter"]
    assert first["proba"] == second["proba"]
    assert len(first["proba"]) == 200  # every sample once
    # the language model: each rank read its own columns of the stream
    assert [r["lm_shard"] for r in ranks] == [[0, 2], [1, 2]]
    assert first["lm_params"] == second["lm_params"]
    assert first["lm_history"] == second["lm_history"]
    assert first["lm_perplexity"] == second["lm_perplexity"]

    # the same fit in this process, without Accelerate, learns as far
    from sklstm import SequenceClassifier

    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 15, 2)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(int)
    single = SequenceClassifier(
        max_epochs=8, batch_size=16, random_state=0, early_stopping=True,
        n_iter_no_change=2, n_networks=1,
    ).fit(X, y)
    final_two, final_one = first["history"][-1][0], single.history_["train_loss"].iloc[-1]
    assert first["history"][0][0] > final_two
    assert abs(final_two - final_one) < 0.2


_LAUNCHED = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import torch

    def train(out_dir):
        from accelerate import Accelerator
        from sklstm import SequenceClassifier
        from sklstm.datasets import make_bit_counting

        accelerator = Accelerator(cpu=True)
        X, y = make_bit_counting(n_bits=8, random_state=0)
        clf = SequenceClassifier(num_hidden=8, max_epochs=3, random_state=0,
                                 n_networks=1, accelerator=accelerator).fit(X, y)
        params = torch.cat([p.detach().flatten() for p in clf.net_.module_.parameters()])
        Path(out_dir, f"rank{accelerator.process_index}.json").write_text(json.dumps(dict(
            rank=accelerator.process_index, n_processes=accelerator.num_processes,
            params=params.tolist(), proba=clf.predict_proba(X[:50]).tolist(),
        )))

    if __name__ == "__main__":
        from accelerate import debug_launcher, notebook_launcher
        launcher, out_dir, port = sys.argv[1:]
        # the parent has run torch's threads before it forks (a notebook
        # that trained something first): a forked child that used them
        # would wait for ever
        torch.randn(300, 300) @ torch.randn(300, 300)
        if launcher == "debug_launcher":
            debug_launcher(train, args=(out_dir,), num_processes=2)
        else:
            notebook_launcher(train, args=(out_dir,), num_processes=2, use_port=port)
    """
)


# notebook_launcher forks its processes the same way (checked by hand,
# docs/scaling.rst); torchrun is tested above
@pytest.mark.parametrize("launcher", ["debug_launcher"])
def test_forking_launchers_train_one_model(launcher, tmp_path):
    pytest.importorskip("accelerate", reason="data-parallel training needs accelerate")
    script = tmp_path / "launched.py"
    script.write_text(_LAUNCHED)
    done = subprocess.run(
        [sys.executable, str(script), launcher, str(tmp_path), str(_free_port())],
        capture_output=True, text=True, timeout=50,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = (
        json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)
    )
    assert (first["rank"], second["rank"]) == (0, 1)
    assert first["n_processes"] == second["n_processes"] == 2
    assert first["params"] == second["params"]
    assert first["proba"] == second["proba"]


def test_a_forked_process_trains_on_one_thread(monkeypatch):
    from sklstm import _fork

    threads = torch.get_num_threads()
    monkeypatch.setattr(_fork, "_forked", False)
    assert not _fork.guard_forked_process()
    assert torch.get_num_threads() == threads
    monkeypatch.setattr(_fork, "_forked", True)
    try:
        assert _fork.guard_forked_process() == (threads > 1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


class _NotAnAccelerator:
    num_processes = 2

    def prepare(self, *objects):
        return objects

    def backward(self, loss):
        loss.backward()


@pytest.mark.parametrize(
    "params, call",
    [
        (dict(warm_start=True), "fit twice"),
        ({}, "partial_fit"),
        (dict(checkpoint_dir="ckpt"), "fit"),
    ],
)
def test_accelerator_refuses_what_it_does_not_support(params, call, tmp_path):
    from sklstm import SequenceClassifier

    X, y = np.zeros((8, 4, 1)), np.arange(8) % 2
    clf = SequenceClassifier(max_epochs=1, **params)
    if call == "fit twice":
        clf.fit(X, y)
    clf.set_params(accelerator=_NotAnAccelerator())
    with pytest.raises(ValueError, match="accelerator is not available with"):
        if call == "partial_fit":
            clf.partial_fit(X, y, classes=[0, 1])
        else:
            clf.fit(X, y)


def test_accelerator_must_be_an_accelerator():
    from sklstm import SequenceClassifier

    with pytest.raises(ValueError, match="accelerator"):
        SequenceClassifier(accelerator="cuda").fit(np.zeros((4, 3)), [0, 1, 0, 1])
