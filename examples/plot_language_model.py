"""
=========================================
Penn Treebank language model (perplexity)
=========================================

The second classic LSTM tutorial: a 2-layer LSTM language model on Penn
Treebank, trained by truncated back-propagation through time with the state
carried from one window to the next, scored by perplexity, then asked for the
next word and for whole sentences.

At full size this is the estimator's default recipe with tied embeddings
(2x200 units, dropout 0.2, Adam at 0.005 with a cosine decay over 6 epochs,
clipping at 1.0), about 15 minutes on two CPU cores. In quick mode it trains
a small model on a slice of the data. The benchmarks page documents a wider
network (2x384, tied weights initialised uniform in +-0.1, SGD at 20, bfloat16,
two-level softmax) that reaches a test perplexity of 85.8 in 23 minutes.
"""

# %%
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sklstm import SequenceLanguageModel
from sklstm.datasets import load_ptb

QUICK = os.environ.get("SKLSTM_QUICK", "") not in ("", "0")

train, valid, test = load_ptb()
if QUICK:
    train, valid, test = train[:1500], valid[:300], test[:300]
print(f"{len(train)} training sentences, {len(test)} test sentences")

# %%
lm = SequenceLanguageModel(
    num_hidden=64 if QUICK else 200,
    num_layers=1 if QUICK else 2,
    tie_weights=True,
    max_epochs=2 if QUICK else 6,
    random_state=0,
)
lm.fit(train, X_val=valid)
print(lm.history_[["train_loss", "valid_ppl"]])
print(f"test perplexity: {lm.perplexity(test):.1f}")

# %%
contexts = ["the stock market", "the company said", "in new york"]
for context, word in zip(contexts, lm.predict(contexts)):
    print(f"{context!r} -> {word!r}")
for seed in range(3):
    print(lm.generate("the company said", n_words=15, temperature=0.8, random_state=seed))

# %%
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(lm.history_.index, lm.history_["valid_ppl"], "o-")
ax.set_xlabel("epoch")
ax.set_ylabel("validation perplexity")
ax.set_title("Penn Treebank")
fig.tight_layout()
