"""
Candidates trained together: throughput against the number of candidates
=========================================================================

The figure of the model-search page, drawn from ``benchmarks/search_results.json``
(written by ``python benchmarks/search.py --json ...``): candidate-epochs per second on
10,000 Fashion-MNIST images (float32, adam, 2 cores) when 1, 2, 4, 8 or 16 networks
train one epoch together (``cymlp.model_selection``'s group epoch) and when they train
one after the other.  Nothing is timed here; the figures are the stored run's.
"""
import json
from pathlib import Path

import matplotlib.pyplot as plt

try:
    HERE = Path(__file__).resolve().parent
except NameError:   # run by sphinx-gallery from the examples folder
    HERE = Path.cwd()
results = json.loads((HERE.parent / "benchmarks" / "search_results.json").read_text())
rows = results["throughput"]
shapes = list(dict.fromkeys(r["shape"] for r in rows))

fig, axes = plt.subplots(1, len(shapes), figsize=(9, 3.6))
for ax, shape in zip(axes, shapes):
    mine = [r for r in rows if r["shape"] == shape]
    counts = [r["candidates"] for r in mine]
    ax.plot(counts, [r["grouped"] for r in mine], "o-", label="trained together")
    ax.plot(counts, [r["one by one"] for r in mine], "s--", label="one by one")
    ax.set_xscale("log", base=2)
    ax.set_xticks(counts)
    ax.set_xticklabels([str(c) for c in counts])
    ax.set_ylim(bottom=0)
    ax.set_title(shape, fontsize=10)
    ax.set_xlabel("candidates")
axes[0].set_ylabel("candidate-epochs per second")
axes[0].legend(fontsize=8, loc="lower right")
fig.tight_layout()
