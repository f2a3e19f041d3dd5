"""
====================================
Sequence labelling: a label per step
====================================

:class:`~sklstm.SequenceTagger` puts a softmax, shared across steps, on the
state at every step. First a numeric task whose label at step t depends on
every earlier step (the running parity of a bit string), then a toy
part-of-speech task on text, with sentences of different lengths and words
never seen in training.
"""

# %%
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sklstm import SequenceTagger
from sklstm.datasets import make_parity

QUICK = os.environ.get("SKLSTM_QUICK", "") not in ("", "0")

X, y = make_parity(n_samples=1000, n_steps=12, random_state=0)
X_test, y_test = make_parity(n_samples=300, n_steps=12, random_state=1)
scores = {}
for cell in ["rnn", "gru", "lstm"]:
    tagger = SequenceTagger(
        cell=cell, num_hidden=16, max_epochs=10 if QUICK else 40, random_state=0
    ).fit(X, y)
    scores[cell] = tagger.score(X_test, y_test)
    print(f"{cell}: per-step accuracy {scores[cell]:.3f}")

fig, ax = plt.subplots(figsize=(4, 3))
ax.bar(list(scores), list(scores.values()))
ax.set_ylim(0, 1)
ax.set_ylabel("per-step accuracy")
ax.set_title("Running parity of 12 bits")
fig.tight_layout()

# %%
# Text: strings are split on white space and the tagger learns its vocabulary
# inside ``fit``; unknown words become ``<unk>``. Predictions keep each
# sentence's length.
sentences = ["the cat sat", "a dog ran home", "the old dog sat", "a cat ran"] * 25
tags = [
    ["DET", "NOUN", "VERB"],
    ["DET", "NOUN", "VERB", "NOUN"],
    ["DET", "ADJ", "NOUN", "VERB"],
    ["DET", "NOUN", "VERB"],
] * 25
pos = SequenceTagger(num_hidden=16, bidirectional=True, max_epochs=30, random_state=0)
pos.fit(sentences, tags)
for sentence, labels in zip(["the zebra ran home", "a old cat sat"],
                            pos.predict(["the zebra ran home", "a old cat sat"])):
    print(list(zip(sentence.split(), labels)))
