"""
Seconds per epoch against scikit-learn and PyTorch
==================================================

The bar chart of the performance page's benchmark tables, drawn from
``benchmarks/results.json`` (written by ``python benchmarks/run_all.py --json ...``):
one training epoch of 784-200-100-10 on the 60,000 Fashion-MNIST images, float32, for
each thread count and batch size measured.  Nothing is timed here; the figures are
the stored run's.
"""
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

try:
    HERE = Path(__file__).resolve().parent
except NameError:   # run by sphinx-gallery from the examples folder
    HERE = Path.cwd()
results = json.loads((HERE.parent / "benchmarks" / "results.json").read_text())
PEERS = ["cymlp (Network)", "cymlp (MLPClassifier)", "PyTorch", "scikit-learn"]
rows = [r for r in results["rows"] if r["kind"] == "epoch" and r["dtype"] == "float32"
        and r["peer"] in PEERS]
settings = sorted({(r["threads"], r["batch"]) for r in rows})

fig, ax = plt.subplots(figsize=(8, 4))
width = 0.8 / len(PEERS)
for k, peer in enumerate(PEERS):
    seconds = [next((r["seconds"] for r in rows if r["peer"] == peer
                     and (r["threads"], r["batch"]) == s), np.nan) for s in settings]
    ax.bar(np.arange(len(settings)) + k * width, seconds, width, label=peer)
ax.set_xticks(np.arange(len(settings)) + 0.4 - width / 2)
ax.set_xticklabels(["%d thread%s, batch %d" % (t, "s" if t > 1 else "", b)
                    for t, b in settings], rotation=20)
ax.set_ylabel("seconds per epoch")
ax.legend(fontsize=8)
fig.tight_layout()
