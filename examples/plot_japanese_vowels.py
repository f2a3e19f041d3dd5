"""
==================================================================
Real data: speaker recognition from ragged multivariate recordings
==================================================================

The JapaneseVowels set of the UEA archive: nine male speakers each uttered the
vowels "ae"; each utterance is a recording of 12 LPC cepstrum coefficients over
7 to 26 frames (different lengths: ragged, multivariate). The task is to tell the
speaker from an utterance: 270 training and 370 test utterances, 9 classes.

aeon ships the data set (``pip install aeon``; no download). aeon, like sktime,
stores a collection channels first, ``(n_channels, n_timepoints_i)`` per series;
:func:`~sklstm.preprocessing.channels_last` turns it into sklstm's time-first
layout. The model is a :class:`~sklearn.pipeline.Pipeline` of a
:class:`~sklstm.preprocessing.SequenceScaler` and a
:class:`~sklstm.SequenceClassifier`, tuned by cross-validation on the training
split only; the test split gives the final figure.

Set ``SKLSTM_QUICK=1`` to run a shortened version (as the documentation build does).
"""

# %%
# Loading: ragged channels-first series from aeon, turned time first.
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from aeon.datasets import load_classification
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklstm import SequenceClassifier
from sklstm.preprocessing import SequenceScaler, channels_last

QUICK = os.environ.get("SKLSTM_QUICK", "") not in ("", "0")

X_train, y_train = load_classification("JapaneseVowels", split="train")
X_test, y_test = load_classification("JapaneseVowels", split="test")
X_train, X_test = channels_last(X_train), channels_last(X_test)
lengths = [len(x) for x in X_train]
print(f"{len(X_train)} training utterances of {min(lengths)}-{max(lengths)} frames "
      f"x {X_train[0].shape[1]} coefficients; {len(X_test)} test utterances")

# %%
# A pipeline: scaling, then a recurrent classifier (bidirectional LSTM, by
# default). The scaler standardises each coefficient either over the real
# frames of all training utterances (padding never counts) or within each
# utterance on its own (``per_sequence=True``); the classifier's own scaling is
# turned off, since the scaler does it. ``GridSearchCV`` chooses the scaling and
# how the network summarises an utterance (the maximum of its outputs over the
# frames, or its output at the last frame) by 3-fold cross-validation on the
# training split.
pipe = make_pipeline(
    SequenceScaler(),
    SequenceClassifier(
        standardize=False,
        max_epochs=12 if QUICK else 80,
        # quick mode: one network instead of the default ensemble
        n_networks=1 if QUICK else "auto",
        random_state=0,
    ),
)
grid = {
    "sequencescaler__per_sequence": [False, True],
    "sequenceclassifier__pooling": ["max", "last"],
}
if QUICK:
    grid["sequenceclassifier__pooling"] = ["max"]
search = GridSearchCV(pipe, grid, cv=2 if QUICK else 3)
start = time.perf_counter()
search.fit(X_train, y_train)
print(f"grid search took {time.perf_counter() - start:.1f} s")
for params, score in zip(search.cv_results_["params"],
                         search.cv_results_["mean_test_score"]):
    print(f"  {params}: cross-validated accuracy {score:.3f}")
print("chosen:", search.best_params_)

# %%
# The final figure, on the 370 test utterances.
test_accuracy = search.score(X_test, y_test)
print(f"test accuracy {test_accuracy:.3f}")

# %%
# Which speakers are confused with which.
fig, ax = plt.subplots(figsize=(5, 4.5))
ConfusionMatrixDisplay.from_estimator(search, X_test, y_test, ax=ax, colorbar=False)
ax.set_title(f"JapaneseVowels, test accuracy {test_accuracy:.3f}")
fig.tight_layout()
fig.savefig("japanese_vowels_confusion.png", dpi=100)
print("confusion matrix saved to japanese_vowels_confusion.png")
