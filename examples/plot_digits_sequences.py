"""
======================================
Reading digit images row by row (LSTM)
======================================

A classic recurrent-network exercise treats an image as a sequence: each of
its rows is one time step. scikit-learn's bundled 8x8 digits become sequences
of 8 steps with 8 features (a 3-D array), classified by a
:class:`~sklstm.SequenceClassifier` and compared with a non-sequential
baseline, logistic regression on the 64 flattened pixels.
"""

# %%
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from sklstm import SequenceClassifier

QUICK = os.environ.get("SKLSTM_QUICK", "") not in ("", "0")

digits = load_digits()
X = digits.images / 16.0  # (n_samples, 8 rows = steps, 8 pixels = features)
X_train, X_test, y_train, y_test = train_test_split(
    X, digits.target, test_size=0.3, random_state=0, stratify=digits.target
)
print("sequences:", X_train.shape)

# %%
lstm = SequenceClassifier(
    num_hidden=64, max_epochs=8 if QUICK else 40, lr=0.01, random_state=0
).fit(X_train, y_train)
baseline = LogisticRegression(max_iter=2000).fit(X_train.reshape(len(X_train), -1), y_train)
print(f"LSTM over rows:           {lstm.score(X_test, y_test):.3f}")
print(
    "logistic regression:      "
    f"{baseline.score(X_test.reshape(len(X_test), -1), y_test):.3f}"
)

# %%
# A few test digits with the LSTM's prediction.
pred = lstm.predict(X_test[:8])
fig, axes = plt.subplots(1, 8, figsize=(8, 1.6))
for ax, image, label in zip(axes, X_test[:8], pred):
    ax.imshow(image, cmap="gray_r")
    ax.set_title(str(label))
    ax.axis("off")
fig.suptitle("LSTM predictions, reading one row per step")
fig.tight_layout()
