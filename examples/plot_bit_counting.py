"""
==========================================
Counting the ones in 20-bit strings (LSTM)
==========================================

The classic LSTM tutorial task: given a binary string of 20 bits, predict how
many of them are 1. The tutorial generated all 2**20 strings, trained on
10,000 of them, tested on the other 1,038,576, and reached 0.1% test error
after 5,000 epochs and 3-4 hours on a laptop CPU.

Here the same split is a few lines of scikit-learn code. The tutorial treats
the count as one of 21 classes; a count is a number, though, and
:class:`~sklstm.SequenceRegressor` learns one scale for all of them: it
predicts a real number, rounded here to the nearest count. That matters on
this split: no training string has 0, 1, 19 or 20 ones, and one and two have
2 and 18. A classifier cannot predict a class it never saw and learns the
rare ones from a handful of strings (:class:`~sklstm.SequenceClassifier`,
same network: 478 to 812 strings wrong over five seeds, about 420 of them
out of its reach; see :doc:`/benchmarks`), while the regressor counts them
all.

The settings are the regressor's defaults (mean pooling of the LSTM's
outputs over the 20 steps, Adam with a one-cycle learning-rate schedule
peaking at 0.02, batches of 64; 20 steps are too few for the convolutional
front-end) but for the network: 24 LSTM units reading forwards only
(``bidirectional=False``; the default reads both ways). A count needs one
direction, and one direction predicts the million held-out strings in half
the time (2.0 against 4.4 s on the development machine with AVX-512
kernels, 4.1 against 8.1 s with AVX2's; see :doc:`/benchmarks`), with none
wrong either way.

The defaults first run a short inner search (three-fold cross-validation on
the training strings) among the network alone and the network beside a
*summary path* (with or without per-sequence features), a linear model
(ridge regression or partial least squares, whichever its own folds prefer;
``reg.summary_model_``) of the target on the 20 bits whose residual the
network learns. A count is the sum of its bits, so the search
chooses the path (``reg.summary_points_`` is 20; ``reg.auto_search_`` holds
the scores), and the network trains as many epochs as the fit budget leaves
beside the search (52 here; ``reg.fit_plan_``).

Set ``SKLSTM_QUICK=1`` to run a shortened version (5 epochs, 20,000 test
strings, the search's choice given instead of searched), as the
documentation build does.
"""

# %%
# Data: all 2**20 strings, shuffled; the first 10,000 train the model.
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sklstm import SequenceRegressor
from sklstm.datasets import make_bit_counting

QUICK = os.environ.get("SKLSTM_QUICK", "") not in ("", "0")

X, y = make_bit_counting(n_bits=20, random_state=0)
X_train, y_train = X[:10_000], y[:10_000]
X_test, y_test = X[10_000:], y[10_000:]
if QUICK:
    X_test, y_test = X_test[:20_000], y_test[:20_000]
print(f"{len(X_train)} training strings, {len(X_test)} held-out strings")
print("training strings per count:", np.bincount(y_train, minlength=21).tolist())

# %%
# Training. With ``verbose=1`` the estimator would print its plan and one
# line per epoch.
reg = SequenceRegressor(
    cell="lstm",
    num_hidden=24,
    bidirectional=False,
    random_state=0,
)
if QUICK:
    # the network that the full run trains (one, with the summary path that
    # its inner search chooses: ``reg.fit_plan_``, ``reg.auto_search_``), for
    # 5 epochs instead of 52 and without the search; left "auto", five
    # epochs would leave room in the fit budget for five networks
    reg.set_params(max_epochs=5, n_networks=1, summary_points=20,
                   per_sequence_features=False)
start = time.perf_counter()
reg.fit(X_train, y_train.astype(float))
fit_seconds = time.perf_counter() - start
print(f"training took {fit_seconds:.1f} s ({reg.n_iter_} epochs)")
print("fit plan:", reg.fit_plan_)

# %%
# Evaluation on every held-out string: the predicted count, rounded.
start = time.perf_counter()
counts = reg.predict(X_test)
predict_seconds = time.perf_counter() - start
y_pred = np.clip(np.rint(counts), 0, 20).astype(int)
wrong = y_pred != y_test
print(
    f"{wrong.sum()} of {len(y_test)} held-out strings wrong "
    f"({100 * wrong.mean():.4f}% error; the tutorial reached 0.1%), "
    f"predicted in {predict_seconds:.1f} s"
)
print("errors by true count:", np.bincount(y_test[wrong], minlength=21).tolist())
print(f"largest distance of a prediction from its count: {np.abs(counts - y_test).max():.3f}"
      " (rounding errs from 0.5)")

# %%
# The training curve, from the estimator's per-epoch log.
history = reg.history_
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(history.index, history["train_loss"], label="training loss")
ax.set_xlabel("epoch")
ax.set_ylabel("mean squared error (standardised counts)")
ax.set_yscale("log")
ax.set_title("LSTM counting ones in 20-bit strings")
ax.legend()
fig.tight_layout()
fig.savefig("bit_counting_training_curve.png", dpi=100)
print("training curve saved to bit_counting_training_curve.png")
