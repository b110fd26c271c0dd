"""
Warm start and partial_fit
==========================

``warm_start=True`` makes the next ``fit`` continue from the fitted weights (and the
optimizer's state); ``partial_fit`` runs one epoch on the data it is given, for data
that arrives in pieces.  Both continue exactly: five ``partial_fit`` calls on the same
rows, in the same order, give the weights of one five-epoch ``fit`` without shuffling.
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import cymlp

X, y = load_digits(return_X_y=True)
X = X / 16.0

one_fit = cymlp.MLPClassifier((32,), max_iter=5, shuffle=False, random_state=0).fit(X, y)
pieces = cymlp.MLPClassifier((32,), shuffle=False, random_state=0)
for _ in range(5):
    pieces.partial_fit(X, y, classes=np.arange(10))
print("same weights:", all(np.array_equal(a, b) for a, b in
                           zip(one_fit.coefs_, pieces.coefs_)))

warm = cymlp.MLPClassifier((32,), max_iter=5, warm_start=True, random_state=0)
scores = []
for _ in range(8):
    warm.fit(X[:1200], y[:1200])
    scores.append(warm.score(X[1200:], y[1200:]))

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(5 * np.arange(1, 9), scores, marker="o")
ax.set_xlabel("epochs so far (warm_start fits of 5 epochs)")
ax.set_ylabel("held-out accuracy")
fig.tight_layout()
