"""
Decision boundaries of the activations
======================================

The same 2-16-16-2 network trained with each hidden activation on two interleaved half
moons: the piecewise-linear activations (relu, leaky_relu) draw polygons, the smooth
ones (tanh, gelu, silu, softplus, elu, logistic) curves; identity can only draw a line.
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons

import cymlp
from cymlp._names import ACTIVATION_CODES

X, y = make_moons(n_samples=300, noise=0.2, random_state=0)
grid = np.stack(np.meshgrid(np.linspace(-1.5, 2.5, 150),
                            np.linspace(-1.0, 1.5, 120)), axis=-1).reshape(-1, 2)
names = sorted(ACTIVATION_CODES)
fig, axes = plt.subplots(3, 3, figsize=(9, 7.5), sharex=True, sharey=True)
for ax, name in zip(axes.ravel(), names):
    clf = cymlp.MLPClassifier((16, 16), activation=name, solver="lbfgs", max_iter=500,
                              random_state=0).fit(X, y)
    proba = clf.predict_proba(grid)[:, 1].reshape(120, 150)
    ax.contourf(grid[:, 0].reshape(120, 150), grid[:, 1].reshape(120, 150), proba,
                levels=20, cmap="RdBu", alpha=0.8)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu", edgecolors="k", s=12)
    ax.set_title("%s (%.2f)" % (name, clf.score(X, y)), fontsize=10)
fig.tight_layout()
