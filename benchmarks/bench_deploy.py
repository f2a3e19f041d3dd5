"""Deployment: ONNX Runtime against predict, save/load against joblib, checkpoints.

Run alone (no other torch process on the machine)::

    .venv/bin/python benchmarks/bench_deploy.py onnx
    .venv/bin/python benchmarks/bench_deploy.py files [--sentences N]

``onnx`` trains the bit-counting tutorial's classifier (10,000 strings), exports
it with :func:`sklstm.to_onnx` and predicts the other 1,038,576 strings with
the estimator's ``predict`` and with ONNX Runtime (labels from the graph),
alternating the two; it prints the medians and their ratio for the
estimator's evaluation batch size and for larger batches, and checks that
the labels agree. Last, the same strings through a graph of one ONNX
``LSTM`` node holding the network's recurrent layer and nothing else (no
scaling, lengths, pooling or output layer): a lower bound on the time of
any ONNX Runtime graph of this network, against the whole ``predict``, and
against torch's ``nn.LSTM`` layer alone on the same batches (the two
recurrent kernels compared).

``files`` trains the 2x384 Penn Treebank configuration of
``bench_ptb.py`` (``sgd_30_2l_tied01``) for one epoch with ``checkpoint_dir``
set, and prints the time each per-epoch checkpoint took against the epoch's
time; then ``sklstm.save``/``sklstm.load`` time and file size against
``joblib.dump``/``joblib.load`` of the same fitted model.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import torch
from _baselines import compare

import sklstm
from sklstm import SequenceClassifier, SequenceLanguageModel
from sklstm._checkpoint import Checkpointer
from sklstm.datasets import load_ptb, make_bit_counting

sys.path.insert(0, str(Path(__file__).parent))
from bench_ptb import CONFIGS, SHARED  # noqa: E402


def bench_onnx(repeats):
    import onnxruntime

    X, y = make_bit_counting(n_bits=20, random_state=0)
    X_train, y_train = X[:10_000], y[:10_000]
    X_test = X[10_000:].astype(np.float32)[:, :, None]
    clf = SequenceClassifier(cell="lstm", num_hidden=24, random_state=0)
    t0 = time.perf_counter()
    clf.fit(X_train, y_train)
    print(f"fit {time.perf_counter() - t0:.1f} s, "
          f"{int((clf.predict(X[10_000:]) != y[10_000:]).sum())} of {len(X_test)} wrong")
    with tempfile.TemporaryDirectory() as tmp:
        path = sklstm.to_onnx(clf, os.path.join(tmp, "clf.onnx"))
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    lengths = np.full(len(X_test), X_test.shape[1], dtype=np.int64)

    def onnx_predict(batch_size):
        labels = [
            session.run(
                ["label"],
                {"X": X_test[i : i + batch_size], "lengths": lengths[i : i + batch_size]},
            )[0]
            for i in range(0, len(X_test), batch_size)
        ]
        return np.concatenate(labels)

    eval_batch = clf.net_.iterator_valid__batch_size
    agree = (onnx_predict(eval_batch) == clf.predict(X[10_000:])).mean()
    print(f"ONNX Runtime {onnxruntime.__version__}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; labels agree on {agree:.6%}")
    for batch_size in (eval_batch, 8192, 65536):
        compare(
            f"predict 1,038,576 strings, ONNX Runtime in batches of {batch_size}",
            lambda: onnx_predict(batch_size),
            lambda: clf.predict(X[10_000:]),
            repeats=repeats,
            per=1,
            labels=("ONNX Runtime", "SequenceClassifier.predict"),
        )
    # the bound: ONNX Runtime's LSTM kernel alone, on the same strings
    lstm_alone = _lstm_node_session(onnxruntime, clf.net_.module_.rnn)
    X_time_major = np.ascontiguousarray(X_test.transpose(1, 0, 2))

    def onnx_lstm_alone():
        for i in range(0, len(X_test), eval_batch):
            lstm_alone.run(None, {"X": X_time_major[:, i : i + eval_batch]})

    compare(
        f"the same strings through ONNX Runtime's LSTM node alone, batches of {eval_batch}",
        onnx_lstm_alone,
        lambda: clf.predict(X[10_000:]),
        repeats=repeats,
        per=1,
        labels=("ONNX Runtime LSTM node alone", "SequenceClassifier.predict (whole network)"),
    )
    # the two kernels on their own: the same layer, the same batches
    layer = clf.net_.module_.rnn.layers[0]
    X_batch_first = torch.from_numpy(X_test)

    @torch.no_grad()
    def torch_lstm_alone():
        for i in range(0, len(X_test), eval_batch):
            layer(X_batch_first[i : i + eval_batch])

    compare(
        f"ONNX Runtime's LSTM node against torch's nn.LSTM, both alone, batches of {eval_batch}",
        onnx_lstm_alone,
        torch_lstm_alone,
        repeats=repeats,
        per=1,
        labels=("ONNX Runtime LSTM node", "torch nn.LSTM"),
    )


def _lstm_node_session(onnxruntime, stack):
    """An ONNX Runtime session of one ``LSTM`` node with the network's
    recurrent layer's weights (time-major input, no lengths, nothing
    around it): a lower bound on any graph of the network."""
    from onnx import TensorProto, helper, numpy_helper

    rnn = stack.layers[0]
    if stack.cell != "lstm" or stack.num_layers != 1:
        raise ValueError("the bound is built for one LSTM layer")
    hidden, n_inputs = rnn.hidden_size, rnn.input_size
    n_dirs = 2 if rnn.bidirectional else 1
    suffixes = ["", "_reverse"][:n_dirs]

    def gates(name):
        # torch orders the gates i, f, g, o; ONNX i, o, f, c
        i, f, g, o = np.split(getattr(rnn, name).detach().numpy(), 4)
        return np.concatenate([i, o, f, g])

    weights = {
        "W": np.stack([gates(f"weight_ih_l0{s}") for s in suffixes]),
        "R": np.stack([gates(f"weight_hh_l0{s}") for s in suffixes]),
        "B": np.stack([
            np.concatenate([gates(f"bias_ih_l0{s}"), gates(f"bias_hh_l0{s}")])
            for s in suffixes
        ]),
    }
    node = helper.make_node(
        "LSTM", ["X", "W", "R", "B"], ["Y"], hidden_size=hidden,
        direction="bidirectional" if n_dirs == 2 else "forward",
    )
    graph = helper.make_graph(
        [node], "lstm_alone",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["time", "batch", n_inputs])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w.astype(np.float32), name) for name, w in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    return onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )


class _TimedCheckpointer(Checkpointer):
    """Checkpointer that records how long each write takes."""

    times = []

    def write(self, net, finished):
        t0 = time.perf_counter()
        super().write(net, finished)
        self.times.append((time.perf_counter() - t0, finished))


def bench_files(n_sentences):
    data = os.environ.get("SKLSTM_DATA", SHARED)
    train, valid, _ = load_ptb(data_home=data)
    if n_sentences:
        train = train[:n_sentences]
    params = {**CONFIGS["sgd_30_2l_tied01"], "max_epochs": 1}
    print(f"{len(train)} training sentences; {params}")
    with tempfile.TemporaryDirectory() as tmp:
        import sklstm._base

        # time the checkpoint writes (the estimator builds its Checkpointer)
        sklstm._base.Checkpointer = _TimedCheckpointer
        lm = SequenceLanguageModel(**params, random_state=0, checkpoint_dir=tmp)
        t0 = time.perf_counter()
        lm.fit(train, X_val=valid[:200])
        total = time.perf_counter() - t0
        epoch = lm.history_["dur"].iloc[-1]
        size = os.path.getsize(os.path.join(tmp, "checkpoint.safetensors"))
        for seconds, finished in _TimedCheckpointer.times:
            what = "at the end of training" if finished else "end of epoch"
            print(f"checkpoint {what}: {seconds:.2f} s = {seconds / epoch:.2%} of the "
                  f"{epoch:.1f} s epoch ({size / 1e6:.1f} MB)")
        print(f"fit {total:.1f} s in all")

        ppl = lm.perplexity(valid[:500])
        for name, save, load, kwargs in [
            ("sklstm.save", sklstm.save, sklstm.load, {}),
            ("sklstm.save(optimizer=False)", sklstm.save, sklstm.load,
             {"optimizer": False}),
            ("joblib", joblib.dump, joblib.load, {}),
        ]:
            path = os.path.join(tmp, "model")
            save_s, load_s = [], []
            for _ in range(3):
                t0 = time.perf_counter()
                save(lm, path, **kwargs)
                save_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                loaded = load(path)
                load_s.append(time.perf_counter() - t0)
            same = loaded.perplexity(valid[:500]) == ppl
            print(f"{name}: save {np.median(save_s):.3f} s, load {np.median(load_s):.3f} s,"
                  f" {os.path.getsize(path) / 1e6:.1f} MB, same perplexity: {same}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["onnx", "files"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sentences", type=int, default=None,
                        help="train on the first N sentences only (a quick run)")
    args = parser.parse_args()
    if args.what == "onnx":
        bench_onnx(args.repeats)
    else:
        bench_files(args.sentences)


if __name__ == "__main__":
    main()
