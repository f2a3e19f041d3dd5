"""
========================================
Predicting the next value of a sine wave
========================================

:class:`~sklstm.SequenceRegressor` reads a window of a noisy sine wave (random
phase and period) and predicts the next, noise-free value.
"""

# %%
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sklstm import SequenceRegressor
from sklstm.datasets import make_sine

QUICK = os.environ.get("SKLSTM_QUICK", "") not in ("", "0")

X, y = make_sine(n_samples=600 if QUICK else 2000, window=20, noise=0.05, random_state=0)
X_test, y_test = make_sine(n_samples=500, window=20, noise=0.05, random_state=1)
reg = SequenceRegressor(
    num_hidden=24, max_epochs=10 if QUICK else 40,
    n_networks=1 if QUICK else "auto", random_state=0,
).fit(X, y)
print(f"R² on new windows: {reg.score(X_test, y_test):.4f}")

# %%
# Three test windows and the predicted next value.
pred = reg.predict(X_test[:3])
fig, ax = plt.subplots(figsize=(6, 3))
for i in range(3):
    ax.plot(np.arange(20), X_test[i], color=f"C{i}", alpha=0.6)
    ax.plot(20, y_test[i], "o", color=f"C{i}", label="true next" if i == 0 else None)
    ax.plot(20, pred[i], "x", color="k", label="predicted" if i == 0 else None)
ax.set_xlabel("step")
ax.legend()
ax.set_title("Next value of noisy sine windows")
fig.tight_layout()
