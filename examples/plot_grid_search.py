"""
==============================================
Tuning ``num_hidden`` and ``cell`` with a grid
==============================================

Recurrent estimators are ordinary scikit-learn estimators: inside a
:class:`~sklearn.pipeline.Pipeline`, their flat parameters are searched by
:class:`~sklearn.model_selection.GridSearchCV` like any other. Here we search
the number of units and the recurrent cell on the bit-counting task.
"""

# %%
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklstm import SequenceClassifier
from sklstm.datasets import make_bit_counting

QUICK = os.environ.get("SKLSTM_QUICK", "") not in ("", "0")

X, y = make_bit_counting(n_bits=20, n_samples=600 if QUICK else 2000, random_state=0)

# %%
# The pipeline scales the bits, then reads them as a sequence.
pipe = make_pipeline(
    StandardScaler(),
    # quick mode: fewer epochs, one network instead of the default ensemble
    SequenceClassifier(
        max_epochs=3 if QUICK else 15, n_networks=1 if QUICK else "auto", random_state=0
    ),
)
grid = {
    "sequenceclassifier__num_hidden": [6, 12, 24],
    "sequenceclassifier__cell": ["rnn", "gru", "lstm"],
}
search = GridSearchCV(pipe, grid, cv=2 if QUICK else 3).fit(X, y)
print("best:", search.best_params_, f"accuracy {search.best_score_:.3f}")

# %%
# ``cv_results_`` as a table.
results = pd.DataFrame(search.cv_results_)
table = results.pivot(
    index="param_sequenceclassifier__cell",
    columns="param_sequenceclassifier__num_hidden",
    values="mean_test_score",
)
print(table.round(3))

# %%
# And as a heat map.
fig, ax = plt.subplots(figsize=(5, 3.5))
image = ax.imshow(table.to_numpy(), cmap="viridis", vmin=0, vmax=1)
ax.set_xticks(range(table.shape[1]), table.columns)
ax.set_yticks(range(table.shape[0]), table.index)
ax.set_xlabel("num_hidden")
ax.set_ylabel("cell")
for (i, j), value in pd.DataFrame(table.to_numpy()).stack().items():
    ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="w")
fig.colorbar(image, label="mean CV accuracy")
ax.set_title("Grid search on bit counting")
fig.tight_layout()
