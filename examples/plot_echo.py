"""
========================================
Echoing a binary stream (truncated BPTT)
========================================

The echo tutorial trains a recurrent network to output its input delayed by a
few steps. One stream of 50,000 random bits is cut into windows of 15 steps,
laid out in parallel columns, and the state at the end of one window starts
the next: :class:`~sklstm.SequenceTagger` with ``bptt=15``.
"""

# %%
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sklstm import SequenceTagger
from sklstm.datasets import make_echo

QUICK = os.environ.get("SKLSTM_QUICK", "") not in ("", "0")
ECHO_STEP = 3

X, y = make_echo(n_steps=50_000, echo_step=ECHO_STEP, random_state=0)
tagger = SequenceTagger(
    num_hidden=8, bptt=15, batch_size=64, lr=0.05,
    max_epochs=3 if QUICK else 5, random_state=0,
).fit(X, y)

# %%
# A fresh stream: every step from ``echo_step`` on is echoed correctly.
X_new, y_new = make_echo(n_steps=50_000, echo_step=ECHO_STEP, random_state=1)
pred = tagger.predict(X_new)
accuracy = np.mean(pred[0, ECHO_STEP:] == y_new[0, ECHO_STEP:])
print(f"per-step accuracy on a fresh stream (t >= {ECHO_STEP}): {accuracy:.5f}")

# %%
fig, axes = plt.subplots(3, 1, sharex=True, figsize=(7, 3.5))
for ax, series, name in zip(axes, [X_new, y_new, pred], ["input", "target", "prediction"]):
    ax.bar(range(40), series[0, :40], color="C0" if name == "input" else "C1")
    ax.set_ylabel(name, rotation=0, ha="right")
    ax.set_yticks([])
axes[-1].set_xlabel("step")
fig.suptitle(f"Echo with a delay of {ECHO_STEP} steps")
fig.tight_layout()
