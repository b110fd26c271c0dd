"""Peak memory of one fit, measured in a fresh process: ``memory.py PEER BATCH THREADS``.

Prints one JSON line: the peak RSS reached during setup plus one training epoch, over
the RSS just before the data was made ready for that peer (libraries imported, the raw
data loaded), and the budget ``data + 2 x model + one batch of workspace + 50 MB``.
"""
import json
import resource
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402

from cymlp.datasets import load_fashion_mnist  # noqa: E402


def rss_mb():
    """Current resident set size in MB (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2 ** 20


def reset_peak():
    """Reset the kernel's peak-RSS mark (VmHWM), so loading the data does not count."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def peak_rss_mb():
    """Peak resident set size since the last reset, in MB (VmHWM)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main():
    name, batch, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    peer = next(p for p in peers.TRAINING_PEERS if p.name == name)()
    from threadpoolctl import threadpool_limits

    if peers.Torch.available():
        import torch  # noqa: F401  (imported before the baseline, like the others)
    import sklearn.neural_network  # noqa: F401

    import cymlp  # noqa: F401

    data = load_fashion_mnist()
    X, y = data.X_train, data.y_train
    baseline = rss_mb()
    reset_peak()
    with threadpool_limits(threads):
        peer.setup(X, y, np.float32, batch)
        peer.epoch()
    sizes = peers.SIZES
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    model_mb = n_params * 4 / 2 ** 20
    workspace_mb = batch * (2 * sum(sizes) + 2 * max(sizes)) * 4 / 2 ** 20
    data_mb = (X.nbytes + y.shape[0] * 10 * 4) / 2 ** 20  # features + one-hot targets
    print(json.dumps(dict(peer=name, fit_mb=peak_rss_mb() - baseline,
                          budget_mb=data_mb + 2 * model_mb + workspace_mb + 50,
                          data_mb=data_mb, model_mb=model_mb, workspace_mb=workspace_mb)))


if __name__ == "__main__":
    main()
