"""Device checks and timings in one short run: the GPU figures of issue 30.

Run alone, on a machine with a GPU::

    python benchmarks/bench_device.py --device cuda

It prints, on that device:

1. ``torch.mm``'s sustained rate at the default network's shapes (the
   recurrent step in training and in prediction batches) and at a large
   square, in float32 (with and without TF32 on CUDA) and bfloat16;
2. checks: a classifier fitted there predicts what its saved copy
   predicts on the CPU (``sklstm.save``, ``sklstm.load(device="cpu")``),
   and ``precision="bfloat16"`` fits and predicts finite probabilities;
3. bit counting: ``make demo``'s regressor trained and predicting the
   1,038,576 held-out strings there (times and strings wrong); the
   overhead of a one-network classifier's ``fit`` and ``predict`` against
   a plain PyTorch loop on the same module on the same device (ratios of
   alternating pairs, as ``bench_bit_counting.py``); the roofline of
   ``bench_roofline.py`` against the device's own ``torch.mm``;
4. the default fits of the named archive sets there (time, test
   accuracy), in float32 and in bfloat16.

``--device cpu`` runs the same on the CPU (``--quick``: a few minutes,
for checking the script). A device machine that cannot install packages
needs skorch as a wheel and the archive sets as arrays: here,
``.venv/bin/python benchmarks/bench_device.py --export .devdata`` writes
the named sets (aeon's bundled copies) to ``.devdata/``, and ``pip
download --no-deps skorch==1.4.0 -d .whl`` fetches the wheel; there,
``pip install --no-index --no-deps --target /tmp/site .whl/*.whl`` and
``PYTHONPATH=/tmp/site:. python3 benchmarks/bench_device.py --device cuda
--data .devdata``. Such a machine brings its own torch and scikit-learn
(torch 2.11 when last seen, below the 2.13 that pyproject.toml states as
tested, the only CPU build here; scikit-learn must be 1.6 to 1.9): the
script prints their versions first, so a run there also says whether
sklstm works with them.
"""

import argparse
import os
import tempfile
import time

import bench_roofline as roofline
import numpy as np
import sklearn
import skorch
import torch
from _baselines import compare, plain_fit, synchronize
from bench_bit_counting import SETTINGS, plain_pytorch_predict

import sklstm
from sklstm import SequenceClassifier, SequenceRegressor
from sklstm.datasets import make_bit_counting

NAMED = ["GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "OSULeaf",
         "JapaneseVowels"]


def export(folder):
    """The named sets' standard splits, channels last, as ``.npz`` files of
    plain arrays (ragged sets: the steps of all series and their lengths)."""
    from aeon.datasets import load_classification

    from sklstm.preprocessing import channels_last

    os.makedirs(folder, exist_ok=True)
    for name in NAMED:
        arrays = {}
        for split in ("train", "test"):
            X, y = load_classification(name, split=split)
            X = channels_last(X)
            if isinstance(X, list):
                arrays[f"{split}_steps"] = np.concatenate(X)
                arrays[f"{split}_lengths"] = np.array([len(x) for x in X])
            else:
                arrays[f"{split}_X"] = np.asarray(X)
            arrays[f"{split}_y"] = np.asarray(y, dtype=str)
        np.savez(os.path.join(folder, f"{name}.npz"), **arrays)
        print(f"wrote {name}")


def load(name, folder):
    """``X_train, y_train, X_test, y_test`` of a named set, channels last:
    from ``folder`` (``--export``'s files) or from aeon."""
    if folder is None:
        from aeon.datasets import load_classification

        from sklstm.preprocessing import channels_last

        out = []
        for split in ("train", "test"):
            X, y = load_classification(name, split=split)
            out += [channels_last(X), y]
        return out
    data = np.load(os.path.join(folder, f"{name}.npz"), allow_pickle=False)
    out = []
    for split in ("train", "test"):
        if f"{split}_X" in data:
            X = data[f"{split}_X"]
        else:
            ends = np.cumsum(data[f"{split}_lengths"])
            X = np.split(data[f"{split}_steps"], ends[:-1])
        out += [X, data[f"{split}_y"]]
    return out


def matmul_rates(device):
    """Print torch.mm's rates on ``device``; return the float32 ones at the
    training step's shape, the prediction step's and the large square."""
    big = 8192 if torch.device(device).type == "cuda" else 2048
    shapes = [(64, 24, 96), (1024, 24, 96), (big, big, big)]
    kinds = [("float32", torch.float32, False), ("bfloat16", torch.bfloat16, False)]
    if torch.device(device).type == "cuda":
        kinds.insert(1, ("float32, TF32", torch.float32, True))
    float32 = None
    for label, dtype, tf32 in kinds:
        before = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        try:
            rates = [roofline.mm_rate(*s, seconds=0.5, device=device, dtype=dtype)
                     for s in shapes]
        finally:
            torch.backends.cuda.matmul.allow_tf32 = before
        print(f"torch.mm {label}: " + ", ".join(
            f"{r:.1f} GFLOP/s at {'x'.join(map(str, s))}" for r, s in zip(rates, shapes)
        ))
        float32 = rates if float32 is None else float32
    return float32


def checks(device, folder):
    X, y, X_test, y_test = load("GunPoint", folder)
    small = dict(n_networks=2, max_epochs=10, random_state=0, device=device)
    clf = SequenceClassifier(**small).fit(X, y)
    proba = clf.predict_proba(X_test)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "clf.safetensors")
        sklstm.save(clf, path)
        on_cpu = sklstm.load(path, device="cpu").predict_proba(X_test)
    gap = float(np.abs(proba - on_cpu).max())
    print(f"check: fitted on {device}, saved and loaded onto the CPU: largest "
          f"difference of the probabilities {gap:.2e} "
          f"({'ok' if gap < 1e-4 else 'LARGER THAN 1e-4'})")
    half = SequenceClassifier(**small, precision="bfloat16").fit(X, y)
    proba = half.predict_proba(X_test)
    finite = bool(np.isfinite(proba).all())
    print(f"check: precision='bfloat16' on {device}: probabilities finite: {finite}, "
          f"accuracy {np.mean(half.predict(X_test) == y_test):.3f} after 10 epochs")


def bit_counting(device, quick, repeats, rates):
    X, y = make_bit_counting(n_bits=20, random_state=0)
    X_train, y_train, X_test, y_test = X[:10_000], y[:10_000], X[10_000:], y[10_000:]
    if quick:
        X_test, y_test = X_test[:100_000], y_test[:100_000]
    # make demo's estimator (examples/plot_bit_counting.py)
    reg = SequenceRegressor(cell="lstm", num_hidden=24, bidirectional=False,
                            random_state=0, device=device)
    if quick:
        reg.set_params(max_epochs=3, n_networks=1, summary_points=20,
                       per_sequence_features=False)
    start = time.perf_counter()
    reg.fit(X_train, y_train.astype(float))
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    counts = reg.predict(X_test)
    predict_s = time.perf_counter() - start
    wrong = int((np.clip(np.rint(counts), 0, 20) != y_test).sum())
    print(f"make demo's regressor on {device}: trained in {fit_s:.1f} s "
          f"({reg.n_iter_} epochs, plan {reg.fit_plan_}), predicted {len(X_test)} "
          f"strings in {predict_s:.2f} s, {wrong} wrong")

    epochs = 2 if quick else 5
    est = SequenceClassifier(**{**SETTINGS, "max_epochs": epochs, "n_networks": 1,
                                "device": device})
    compare(
        f"fit per epoch on {device} (batch {est.batch_size})",
        lambda: est.fit(X_train, y_train),
        lambda: plain_fit(
            X_train, np.searchsorted(est.classes_, y_train),
            module_params=est.net_.get_params_for("module"), epochs=epochs,
            batch_size=est.batch_size, lr=est.lr, loss_fn=torch.nn.CrossEntropyLoss(),
            device=device,
        ),
        repeats=repeats, per=epochs,
    )
    batch = est.net_.iterator_valid__batch_size
    compare(
        f"predict {len(X_test)} strings on {device} (batch {batch})",
        lambda: est.predict(X_test),
        lambda: plain_pytorch_predict(est.net_.module_, X_test, batch, device),
        repeats=repeats, per=1,
    )
    small, small_eval, large = rates
    row = roofline.task("bit counting", est, X_train, y_train, X_test, epochs)
    print(f"roofline on {device}: epoch {row['epoch GFLOP']:.2f} GFLOP in "
          f"{row['epoch s']:.3f} s = {row['train GFLOP/s']:.1f} GFLOP/s "
          f"({row['train GFLOP/s'] / small:.1%} of mm at the step's shape, "
          f"{row['train GFLOP/s'] / large:.2%} of large mm); predict "
          f"{row['predict GFLOP/s']:.1f} GFLOP/s ({row['predict GFLOP/s'] / small_eval:.1%}"
          f" at the step's shape, {row['predict GFLOP/s'] / large:.2%} of large mm)")


def named_sets(device, folder, names):
    for precision in ("float32", "bfloat16"):
        total, accuracies = 0.0, []
        for name in names:
            X, y, X_test, y_test = load(name, folder)
            clf = SequenceClassifier(random_state=0, device=device, precision=precision)
            start = time.perf_counter()
            clf.fit(X, y)
            synchronize(device)
            seconds = time.perf_counter() - start
            accuracy = float(np.mean(clf.predict(X_test) == y_test))
            total += seconds
            accuracies.append(accuracy)
            print(f"{name:17s} {precision:8s} on {device}: fit {seconds:5.1f} s, "
                  f"accuracy {accuracy:.3f}, {clf.n_networks_} networks, "
                  f"search {clf.fit_plan_['search']}")
        print(f"all {precision} on {device}: {total:.1f} s, mean accuracy "
              f"{np.mean(accuracies):.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--data", help="a folder of --export's files (default: aeon)")
    parser.add_argument("--export", metavar="FOLDER",
                        help="write the named sets there and stop")
    parser.add_argument("--quick", action="store_true",
                        help="shorter fits, 100,000 strings, two named sets")
    parser.add_argument("--repeats", type=int, default=3, help="timed pairs")
    args = parser.parse_args()
    if args.export:
        export(args.export)
        return
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU, {torch.get_num_threads()} threads, "
        f"{torch.backends.cpu.get_cpu_capability()}")
    print(f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, skorch "
          f"{skorch.__version__}, sklstm {sklstm.__version__}, device {device}: {name}")
    rates = matmul_rates(device)
    checks(device, args.data)
    bit_counting(device, args.quick, args.repeats, rates)
    named_sets(device, args.data, NAMED[:2] if args.quick else NAMED)


if __name__ == "__main__":
    main()
