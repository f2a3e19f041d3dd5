import time, sys
import numpy as np
from sklstm import SequenceClassifier
from sklstm.datasets import make_bit_counting
X, y = make_bit_counting(n_bits=20, random_state=0)
Xtr, ytr, Xte, yte = X[:10000], y[:10000], X[10000:], y[10000:]
print("train class counts", np.bincount(ytr, minlength=21))
kw = eval("dict(" + sys.argv[1] + ")")
t = time.time()
clf = SequenceClassifier(random_state=0, **kw).fit(Xtr, ytr)
ft = time.time() - t
t = time.time()
pred = clf.predict(Xte)
pt = time.time() - t
wrong = (pred != yte)
print(kw, "fit %.1fs predict %.1fs wrong %d (%.4f%%)" % (ft, pt, wrong.sum(), 100 * wrong.mean()))
print("wrong by true class", np.bincount(yte[wrong], minlength=21).tolist())
