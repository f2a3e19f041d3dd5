"""Penn Treebank language modelling: throughput and perplexity.

Run alone (no other torch process on the machine)::

    .venv/bin/python benchmarks/bench_ptb.py throughput [--tokens 60000]
    .venv/bin/python benchmarks/bench_ptb.py throughput --precision compare --num-hidden 400
    .venv/bin/python benchmarks/bench_ptb.py softmax --softmax-cutoff 1000 --num-hidden 384 --precision bfloat16
    .venv/bin/python benchmarks/bench_ptb.py quality --config small30
    .venv/bin/python benchmarks/bench_ptb.py slice --set '{"tie_weights": true}'
    .venv/bin/python benchmarks/bench_ptb.py regularizers --num-hidden 384 --precision bfloat16

``throughput`` compares training tokens per second of
``SequenceLanguageModel.fit`` with a plain PyTorch truncated-BPTT loop that
has the structure of PyTorch's ``word_language_model`` example (batchify into
columns, windows of ``bptt``, detached carried state, gradient clipping,
SGD), on the same configuration and the same tokens, alternating the two;
``--precision bfloat16`` runs both in mixed precision, ``--precision
compare`` times sklstm in bfloat16 against sklstm in float32;
``--softmax-cutoff`` gives both sides the two-level softmax.

``softmax`` times sklstm with a two-level softmax (``--softmax-cutoff``)
against sklstm with the full softmax, both in ``--precision``.

``quality`` trains a documented configuration on the full training set,
printing the validation perplexity per epoch, then the test perplexity
(tokens including ``<eos>``) and the training time.

``regularizers`` times sklstm with each AWD-LSTM regulariser (and all of
them together) against the same model without any, alternating the two, on
the same tokens, and prints the ratios of training tokens per second; it
also times NT-ASGD's averaging step against a training step.

``slice`` trains one epoch on the first ``--sentences`` training sentences
with the TensorFlow tutorial's small recipe (2x200, untied, no dropout,
windows of 20, SGD at 20 on the mean loss with clipping at 0.25, which is its
rate of 1 and clipping at 5 on a loss summed over the window), changed by the
JSON of ``--set``, and prints the validation perplexity: a quick comparison of
recipes.

The data are read with :func:`sklstm.datasets.load_ptb` from ``SKLSTM_DATA``
(default ``../shared/data`` when it holds ``ptb/``).
"""

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from _baselines import compare

from sklstm import SequenceLanguageModel
from sklstm.datasets import load_ptb
from sklstm._net import PRECISIONS
from sklstm.nn import RecurrentNetwork
from sklstm.preprocessing import Vocabulary

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

CONFIGS = {
    # a smoke test of the whole pipeline (about a minute)
    "tiny": dict(num_hidden=16, num_layers=1, dropout=0.0, max_epochs=1),
    # the reference example's 2x200 tied model (110.4 test ppl after 6 epochs)
    "small": dict(num_hidden=200, num_layers=2, dropout=0.2, tie_weights=True,
                  optimizer="sgd", lr=20.0, clip_grad_norm=0.25,
                  lr_schedule="plateau", max_epochs=6),
    # Adam with a cosine decay over a 30-minute budget
    "adam30": dict(num_hidden=200, num_layers=2, dropout=0.3, tie_weights=True,
                   optimizer="adam", lr=0.004, clip_grad_norm=1.0,
                   lr_schedule="cosine", max_epochs=10),
    # a wider network trained in bfloat16 mixed precision, 30-minute budget
    "bf16_30": dict(num_hidden=400, num_layers=2, dropout=0.2, tie_weights=True,
                    optimizer="adam", lr=0.005, clip_grad_norm=1.0,
                    lr_schedule="cosine", max_epochs=7, precision="bfloat16"),
    # the same with one more epoch, slightly narrower and more dropout
    "bf16_30b": dict(num_hidden=384, num_layers=2, dropout=0.25, tie_weights=True,
                     optimizer="adam", lr=0.005, clip_grad_norm=1.0,
                     lr_schedule="cosine", max_epochs=8, precision="bfloat16"),
    # bf16_30b with a ninth epoch (run with glibc's malloc told to keep memory)
    "bf16_30c": dict(num_hidden=384, num_layers=2, dropout=0.25, tie_weights=True,
                     optimizer="adam", lr=0.005, clip_grad_norm=1.0,
                     lr_schedule="cosine", max_epochs=9, precision="bfloat16"),
    # the medium (2x650) network with dropout 0.5 in bfloat16, 2-hour budget
    "bf16_2h": dict(num_hidden=650, num_layers=2, dropout=0.5, tie_weights=True,
                    optimizer="adam", lr=0.003, clip_grad_norm=1.0,
                    lr_schedule="cosine", max_epochs=16, precision="bfloat16"),
    # SGD at 20 on untied weights (which learn far faster than Adam or tied
    # N(0, 1) embeddings here), bfloat16, 30-minute budget
    "sgd_30": dict(num_hidden=384, num_layers=2, dropout=0.3, tie_weights=False,
                   optimizer="sgd", lr=20.0, clip_grad_norm=0.25,
                   lr_schedule="cosine", max_epochs=10, precision="bfloat16"),
    # sgd_30 with the two-level softmax, whose cheaper steps buy three more epochs
    "sgd_30_2l": dict(num_hidden=384, num_layers=2, dropout=0.3, tie_weights=False,
                      optimizer="sgd", lr=20.0, clip_grad_norm=0.25, softmax_cutoff=1000,
                      lr_schedule="cosine", max_epochs=13, precision="bfloat16"),
    # sgd_30_2l with less dropout: test perplexity 98.4 in 26 minutes
    "sgd_30_2l_d25": dict(num_hidden=384, num_layers=2, dropout=0.25, tie_weights=False,
                          optimizer="sgd", lr=20.0, clip_grad_norm=0.25,
                          softmax_cutoff=1000, lr_schedule="cosine", max_epochs=13,
                          precision="bfloat16"),
    # sgd_30_2l_d25 with tied N(0, 1) weights: far behind after 4 epochs, stopped
    "sgd_30_2l_tied": dict(num_hidden=384, num_layers=2, dropout=0.25, tie_weights=True,
                           optimizer="sgd", lr=20.0, clip_grad_norm=0.25,
                           softmax_cutoff=1000, lr_schedule="cosine", max_epochs=13,
                           precision="bfloat16"),
    # ... with the tied weights initialised in +-0.1: test perplexity 85.8 in 22.9 min
    "sgd_30_2l_tied01": dict(num_hidden=384, num_layers=2, dropout=0.25,
                             tie_weights=True, init_range=0.1, optimizer="sgd",
                             lr=20.0, clip_grad_norm=0.25, softmax_cutoff=1000,
                             lr_schedule="cosine", max_epochs=13, precision="bfloat16"),
    # two-hour budget: sgd_30_2l_d25's recipe scaled up to 2x650 with more dropout
    # (epochs of 281-344 s; the full softmax ran at ~450 s): test perplexity 95.0
    # after 95.6 minutes, overfitting from the ninth epoch
    "sgd_2h": dict(num_hidden=650, num_layers=2, dropout=0.4, tie_weights=False,
                   optimizer="sgd", lr=20.0, clip_grad_norm=0.25, softmax_cutoff=1000,
                   lr_schedule="cosine", max_epochs=18, precision="bfloat16"),
    # AWD-LSTM's regularisers on sgd_30_2l_tied01 (2x384), 45 epochs
    # (stopped after one epoch of 66 s, in favour of awd_2h)
    "awd_384": dict(num_hidden=384, num_layers=2, dropout=0.35, locked_dropout=True,
                    embedding_dropout=0.1, weight_dropout=0.25,
                    activation_penalty=2.0, temporal_penalty=1.0, variable_bptt=True,
                    tie_weights=True, init_range=0.1, optimizer="sgd", lr=20.0,
                    clip_grad_norm=0.25, softmax_cutoff=1000, lr_schedule="cosine",
                    max_epochs=45, precision="bfloat16"),
    # two-hour budget: the reference example's 2x650 tied network with
    # AWD-LSTM's regularisers (locked dropout, embedding dropout, weight
    # drop, AR/TAR, variable windows), SGD at 20 with cosine decay
    "awd_2h": dict(num_hidden=650, num_layers=2, dropout=0.4, locked_dropout=True,
                   embedding_dropout=0.1, weight_dropout=0.3,
                   activation_penalty=2.0, temporal_penalty=1.0, variable_bptt=True,
                   tie_weights=True, init_range=0.1, optimizer="sgd", lr=20.0,
                   clip_grad_norm=0.25, softmax_cutoff=1000, lr_schedule="cosine",
                   max_epochs=38, precision="bfloat16"),
    # the reference recipe with a cosine decay over 11 epochs
    "small30": dict(num_hidden=200, num_layers=2, dropout=0.2, tie_weights=True,
                    optimizer="sgd", lr=20.0, clip_grad_norm=0.25,
                    max_epochs=11, lr_schedule="cosine"),
}
SLICE = dict(num_hidden=200, num_layers=2, dropout=0.0, tie_weights=False, bptt=20,
             optimizer="sgd", lr=20.0, clip_grad_norm=0.25, lr_schedule="constant",
             max_epochs=1)
THROUGHPUT = dict(num_hidden=200, num_layers=2, dropout=0.2, tie_weights=True,
                  batch_size=20, bptt=35, optimizer="sgd", lr=20.0, clip_grad_norm=0.25)


def plain_pytorch_epoch(module, stream, batch_size, bptt, lr, clip, dtype=None):
    """One epoch of the reference structure over ``stream`` (token ids), in
    mixed precision with ``dtype``."""
    length = (len(stream) - 1) // batch_size
    data = stream[: batch_size * length].reshape(batch_size, length)
    target = stream[1 : batch_size * length + 1].reshape(batch_size, length)
    opt = torch.optim.SGD(module.parameters(), lr=lr, fused=True)  # as sklstm's
    loss_fn = torch.nn.CrossEntropyLoss()
    module.train()
    state = None
    for start in range(0, length, bptt):
        x, y = data[:, start : start + bptt], target[:, start : start + bptt]
        opt.zero_grad()
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            outputs = module(x, state=state, return_all=True)
            if module.softmax_cutoff is None:
                out = outputs.prediction.float()
                loss = loss_fn(out.reshape(-1, out.shape[-1]), y.reshape(-1))
            else:  # the two-level softmax scores its targets itself
                loss, _ = module.training_loss(outputs, y, data_loss=None)
        state = tuple(s.detach().float() for s in outputs.state)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
        opt.step()


def training_text(train, n_tokens):
    """The first ``n_tokens`` of the training text, plus one line with every
    word of the vocabulary, which gives every model the full 10,000-word
    output layer."""
    sentences, count = [], 0
    for s in train:
        sentences.append(s)
        count += len(s.split()) + 1
        if count >= n_tokens:
            break
    sentences.append(" ".join(Vocabulary().fit(train).tokens_[2:]))
    return sentences


def timed_model(params, **overrides):
    """A model for timing: one epoch, no validation, constant rate."""
    return SequenceLanguageModel(**{**params, **overrides}, max_epochs=1,
                                 validation_fraction=None, lr_schedule="constant",
                                 random_state=0)


def softmax(train, n_tokens, repeats, precision, num_hidden, cutoff):
    sentences = training_text(train, n_tokens)
    params = {**THROUGHPUT, "num_hidden": num_hidden, "precision": precision}
    two_level = timed_model(params, softmax_cutoff=cutoff)
    full = timed_model(params)
    ratio = compare(
        f"training time for {n_tokens} tokens, 2x{num_hidden}, {precision}",
        lambda: two_level.fit(sentences),
        lambda: full.fit(sentences),
        repeats=repeats,
        per=1,
        labels=(f"softmax_cutoff={cutoff}", "full softmax"),
    )
    print(f"speed-up of the two-level softmax (tokens/s): {1 / ratio:.3f}")


def throughput(train, n_tokens, repeats, precision, num_hidden, cutoff):
    # both sides train on exactly this text
    sentences = training_text(train, n_tokens)
    vocab = Vocabulary().fit(sentences)
    stream = torch.from_numpy(np.concatenate([[1], *vocab.transform(sentences)]))
    n_train = (len(stream) - 1) // 20 * 20
    params = {**THROUGHPUT, "num_hidden": num_hidden, "softmax_cutoff": cutoff}
    if precision == "compare":
        # sklstm against itself: bfloat16 mixed precision against float32
        fp32, bf16 = (timed_model(params, precision=p) for p in ("float32", "bfloat16"))
        ratio = compare(
            f"training time for {n_train} tokens, 2x{num_hidden}",
            lambda: bf16.fit(sentences),
            lambda: fp32.fit(sentences),
            repeats=repeats,
            per=1,
            labels=("bfloat16", "float32"),
        )
        print(f"speed-up of bfloat16 over float32 (tokens/s): {1 / ratio:.3f}")
        return
    lm = timed_model(params, precision=precision)
    torch.manual_seed(0)
    module = RecurrentNetwork(vocab_size=len(vocab.tokens_), n_outputs=len(vocab.tokens_),
                              num_hidden=num_hidden, num_layers=2, dropout=0.2,
                              per_step=True, tie_weights=True, softmax_cutoff=cutoff)
    ratio = compare(
        f"training time for {n_train} tokens, 2x{num_hidden}, {precision}",
        lambda: lm.fit(sentences),
        lambda: plain_pytorch_epoch(module, stream, 20, 35, 20.0, 0.25,
                                    dtype=PRECISIONS[precision]),
        repeats=repeats,
        per=1,
    )
    assert len(lm.tokens_) == len(vocab.tokens_) == 10_000
    print(f"throughput ratio sklstm / plain PyTorch (tokens/s): {1 / ratio:.3f}")


# AWD-LSTM's regularisers, at its Penn Treebank settings
REGULARIZERS = {
    "locked dropout": dict(locked_dropout=True),
    "embedding dropout 0.1": dict(embedding_dropout=0.1),
    "weight drop 0.5": dict(weight_dropout=0.5),
    "AR 2 + TAR 1": dict(activation_penalty=2.0, temporal_penalty=1.0),
    "variable windows": dict(variable_bptt=True),
}


def regularizers(train, n_tokens, repeats, precision, num_hidden, cutoff):
    sentences = training_text(train, n_tokens)
    params = {**THROUGHPUT, "num_hidden": num_hidden, "softmax_cutoff": cutoff,
              "precision": precision, "init_range": 0.1, "dropout": 0.4}
    plain = timed_model(params)
    ratios = {}
    everything = {k: v for setting in REGULARIZERS.values() for k, v in setting.items()}
    for name, setting in [*REGULARIZERS.items(), ("all of them", everything)]:
        regularised = timed_model(params, **setting)
        ratio = compare(
            f"{name}: training time for {n_tokens} tokens, 2x{num_hidden}, {precision}",
            lambda: regularised.fit(sentences),
            lambda: plain.fit(sentences),
            repeats=repeats,
            per=1,
            labels=(name, "no regulariser"),
        )
        ratios[name] = 1 / ratio
    # NT-ASGD: after its trigger, every step also updates the running average
    module = plain.net_.module_
    averaged = torch.optim.swa_utils.AveragedModel(
        module, multi_avg_fn=torch.optim.swa_utils.get_swa_multi_avg_fn())
    n_steps = 50
    t0 = time.perf_counter()
    for _ in range(n_steps):
        averaged.update_parameters(module)
    update_s = (time.perf_counter() - t0) / n_steps
    step_s = plain.history_["dur"].iloc[-1] / plain.history_["train_batch_count"].iloc[-1]
    ratios["NT-ASGD averaging"] = step_s / (step_s + update_s)
    print(f"NT-ASGD: averaging update {update_s * 1e3:.2f} ms per step, training "
          f"step {step_s * 1e3:.1f} ms")
    print("tokens per second relative to no regulariser:")
    for name, ratio in ratios.items():
        print(f"  {name:<24} {ratio:.3f}")


def quality(train, valid, test, config, history_csv=None):
    params = CONFIGS[config]
    lm = SequenceLanguageModel(**params, random_state=0, verbose=1)
    t0 = time.perf_counter()
    lm.fit(train, X_val=valid)
    fit_s = time.perf_counter() - t0
    print(lm.history_[["train_loss", "valid_loss", "valid_ppl", "dur"]].to_string())
    if history_csv:
        # per-epoch validation perplexity against training minutes (docs figure)
        curve = lm.history_[["valid_ppl"]].assign(
            minutes=lm.history_["dur"].cumsum() / 60, config=config)
        curve.to_csv(history_csv, mode="a", header=not os.path.exists(history_csv))
    t0 = time.perf_counter()
    ppl = lm.perplexity(test)
    print(f"config {config} {params}: test perplexity {ppl:.1f}, validation "
          f"{lm.perplexity(valid):.1f}; training {fit_s / 60:.1f} min, test "
          f"evaluation {time.perf_counter() - t0:.1f} s")
    print("next words:", dict(zip(["the stock market", "the company said"],
                                  lm.predict(["the stock market", "the company said"]))))
    print("generated:", lm.generate("the company said", n_words=20, random_state=0))


def recipe_slice(train, valid, n_sentences, overrides):
    params = {**SLICE, **overrides}
    lm = SequenceLanguageModel(**params, random_state=0)
    t0 = time.perf_counter()
    lm.fit(train[:n_sentences], X_val=valid)
    print(f"{overrides or 'small recipe'} on {n_sentences} sentences: validation "
          f"perplexity {lm.history_['valid_ppl'].iloc[-1]:.1f}, "
          f"{time.perf_counter() - t0:.0f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["throughput", "softmax", "quality", "slice",
                                         "regularizers"])
    parser.add_argument("--tokens", type=int, default=60_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="sgd_30_2l_tied01")
    parser.add_argument("--precision", choices=["float32", "bfloat16", "compare"],
                        default="float32",
                        help="throughput: arithmetic of both sides, or 'compare' "
                             "for sklstm in bfloat16 against sklstm in float32")
    parser.add_argument("--num-hidden", type=int, default=200)
    parser.add_argument("--softmax-cutoff", type=int, default=None,
                        help="two-level softmax with this many words in its head "
                             "(softmax: default 1000)")
    parser.add_argument("--sentences", type=int, default=21_000,
                        help="slice: training sentences (half of PTB by default)")
    parser.add_argument("--set", type=json.loads, default={},
                        help="slice: JSON of SequenceLanguageModel parameters")
    parser.add_argument("--history-csv", default=None,
                        help="quality: append the per-epoch validation perplexity "
                             "and training minutes to this CSV")
    args = parser.parse_args()
    if "SKLSTM_DATA" not in os.environ and (SHARED / "ptb").is_dir():
        os.environ["SKLSTM_DATA"] = str(SHARED)
    train, valid, test = load_ptb(download_if_missing=False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.what == "throughput":
        throughput(train, args.tokens, args.repeats, args.precision, args.num_hidden,
                   args.softmax_cutoff)
    elif args.what == "regularizers":
        if args.precision == "compare":
            parser.error("regularizers compares at one precision")
        regularizers(train, args.tokens, args.repeats, args.precision, args.num_hidden,
                     args.softmax_cutoff)
    elif args.what == "slice":
        recipe_slice(train, valid, args.sentences, args.set)
    elif args.what == "softmax":
        if args.precision == "compare":
            parser.error("softmax compares at one precision: float32 or bfloat16")
        softmax(train, args.tokens, args.repeats, args.precision, args.num_hidden,
                args.softmax_cutoff or 1000)
    else:
        quality(train, valid, test, args.config, args.history_csv)


if __name__ == "__main__":
    main()
