"""Echo task (SequenceTagger) and bit counting as regression (SequenceRegressor).

Run alone (no other torch process on the machine)::

    .venv/bin/python benchmarks/bench_tagger_regressor.py

Prints:

1. echo: per-step accuracy on a fresh 50,000-step stream for steps
   ``t >= echo_step``, after training on one 50,000-step stream cut into
   windows of 15 with the state carried between windows, and the fit time;
2. bit counting as regression: rounded predictions on the 1,038,576 held-out
   strings after training on the tutorial's 10,000, errors by true count;
   and, trained on the strings with 2 to 18 ones only, how many test strings
   with 0, 1, 19 or 20 ones it counts right (extrapolation);
3. ``fit`` time per epoch of both estimators versus hand-written PyTorch loops
   on the same module (ratios).
"""

import argparse
import time

import numpy as np
import torch
from _baselines import compare, plain_fit, plain_fit_bptt

from sklstm import SequenceRegressor, SequenceTagger
from sklstm.datasets import make_bit_counting, make_echo

ECHO = dict(num_hidden=8, bptt=15, batch_size=64, lr=0.05, max_epochs=5, random_state=0)
REGRESSION = dict(max_epochs=30, random_state=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed fit")
    parser.add_argument("--repeats", type=int, default=5, help="timed pairs")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    X, y = make_echo(50_000, echo_step=3, random_state=0)
    X_new, y_new = make_echo(50_000, echo_step=3, random_state=1)
    t0 = time.perf_counter()
    tagger = SequenceTagger(**ECHO).fit(X, y)
    fit_s = time.perf_counter() - t0
    acc = (tagger.predict(X_new)[0, 3:] == y_new[0, 3:]).mean()
    print(f"echo: accuracy {acc:.6f} on a fresh 50,000-step stream (t >= 3), "
          f"fit {fit_s:.1f} s ({tagger.n_iter_} epochs), settings {ECHO}")

    Xb, yb = make_bit_counting(n_bits=20, random_state=0)
    X_train, y_train, X_test, y_test = Xb[:10_000], yb[:10_000], Xb[10_000:], yb[10_000:]
    t0 = time.perf_counter()
    reg = SequenceRegressor(**REGRESSION).fit(X_train, y_train)
    fit_s = time.perf_counter() - t0
    wrong = np.rint(reg.predict(X_test)) != y_test
    print(f"bit counting as regression: {wrong.sum()} of {len(y_test)} wrong, fit "
          f"{fit_s:.1f} s, settings {REGRESSION}; wrong by true count: "
          f"{np.bincount(y_test[wrong], minlength=21).tolist()}")
    # extrapolation: trained without the counts 0, 1, 19 and 20
    seen = (y_train >= 2) & (y_train <= 18)
    unseen = ~np.isin(y_test, np.unique(y_train[seen]))
    reg = SequenceRegressor(**REGRESSION).fit(X_train[seen], y_train[seen])
    right = int((np.rint(reg.predict(X_test[unseen])) == y_test[unseen]).sum())
    print(f"bit counting as regression, trained on 2 to 18 ones only: {right} of "
          f"{int(unseen.sum())} test strings with other counts right")

    e = args.epochs
    est = SequenceRegressor(**{**REGRESSION, "max_epochs": e})
    y_scaled = ((y_train - y_train.mean()) / y_train.std()).astype(np.float32)[:, None]
    compare(
        f"regressor fit per epoch (batch {est.batch_size})",
        lambda: est.fit(X_train, y_train),
        lambda: plain_fit(X_train, y_scaled, module_params=est.net_.get_params_for("module"),
                          epochs=e, batch_size=est.batch_size, lr=est.lr,
                          loss_fn=torch.nn.MSELoss()),
        repeats=args.repeats,
        per=e,
    )
    tag = SequenceTagger(**{**ECHO, "max_epochs": e})
    compare(
        "tagger (bptt) fit per epoch",
        lambda: tag.fit(X, y),
        lambda: plain_fit_bptt(X[0], y[0], n_outputs=2, epochs=e, n_columns=tag.batch_size,
                               bptt=15, lr=0.05, num_hidden=8),
        repeats=args.repeats,
        per=e,
    )


if __name__ == "__main__":
    main()
