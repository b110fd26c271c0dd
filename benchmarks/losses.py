"""What the losses and targets beyond scikit-learn cost per training epoch, side by side
in one run (issue 26's speed goals).

    python benchmarks/losses.py                     # ~3 minutes on 2 cores
    python benchmarks/losses.py --rounds 3 --json benchmarks/losses_results.json
    farm-bench -n 5 --timeout 600 --vs "python benchmarks/losses.py --only 'loss squared_error' --epochs 5" \
        -- python benchmarks/losses.py --only 'loss absolute_error' --epochs 5

On the 60,000 Fashion-MNIST training images (float32, batch 128, adam, all threads BLAS
is allowed), each round trains every configuration in turn, in this process, for one
untimed epoch and then ``--epochs`` timed ``partial_fit`` epochs; the figure is the
median over rounds of the seconds per epoch, so drift of the machine hits all alike.

- regression, 784-200-100-1, the target the image's class as a number (plus 1, for the
  losses that need targets > 0): each loss / squared error, goal at most 1.05;
- classification, 784-200-100-10: two label columns of 5 classes each (the class mod 5
  and the class div 2: 10 output units in two softmax groups) / one column of the 10
  classes (10 units in one softmax), goal at most 1.10.
"""
import argparse
import json
import statistics
import sys
import time
import warnings

import numpy as np

LOSSES = ["squared_error", "absolute_error", "huber", "quantile", "poisson", "gamma"]
GOALS = {"losses": 1.05, "multi-output": 1.10}


def configurations(y):
    """(name, estimator factory, target) of every configuration timed."""
    from cymlp import MLPClassifier, MLPRegressor

    common = dict(hidden_layer_sizes=(200, 100), activation="logistic", batch_size=128,
                  random_state=0)
    rows = []
    for loss in LOSSES:
        target = y.astype(np.float32) + 1.0
        rows.append(("loss " + loss,
                     lambda loss=loss: MLPRegressor(loss=loss, quantile=0.9, **common),
                     target))
    rows.append(("one label column (10 classes)", lambda: MLPClassifier(**common), y))
    rows.append(("two label columns (5 + 5 classes)", lambda: MLPClassifier(**common),
                 np.column_stack([y % 5, y // 2])))
    return rows


def epoch_seconds(make, X, target, epochs):
    """Seconds per epoch of ``epochs`` partial_fit epochs after one untimed one."""
    model = make()
    extra = {"classes": _classes(target)} if hasattr(model, "predict_proba") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.partial_fit(X, target, **extra)
        start = time.perf_counter()
        for _ in range(epochs):
            model.partial_fit(X, target)
    return (time.perf_counter() - start) / epochs


def _classes(target):
    if target.ndim == 1:
        return np.unique(target)
    return [np.unique(column) for column in target.T]


def verdicts(medians):
    """Each ratio against its reference, with the goal and whether it is met."""
    lines = []
    base = medians["loss squared_error"]
    for loss in LOSSES[1:]:
        ratio = medians["loss " + loss] / base
        lines.append(("%s / squared_error" % loss, ratio, GOALS["losses"]))
    ratio = (medians["two label columns (5 + 5 classes)"]
             / medians["one label column (10 classes)"])
    lines.append(("two label columns / one", ratio, GOALS["multi-output"]))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=None,
                        help="train on the first ROWS images only (a quick check)")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--only", metavar="CONFIGURATION",
                        help="time this one configuration (its name in the table) and "
                             "print its seconds per epoch: one process per figure, for "
                             "farm-bench's pairing")
    args = parser.parse_args(argv)

    from cymlp.datasets import load_fashion_mnist

    data = load_fashion_mnist()
    X = np.ascontiguousarray(data.X_train[:args.rows], dtype=np.float32)
    y = np.asarray(data.y_train[:args.rows])
    rows = configurations(y)
    if args.only:
        (make, target), = [(m, t) for name, m, t in rows if name == args.only]
        print("%.4f" % epoch_seconds(make, X, target, args.epochs))
        return 0
    times = {name: [] for name, _, _ in rows}
    for round_ in range(args.rounds):
        for name, make, target in rows:
            times[name].append(epoch_seconds(make, X, target, args.epochs))
        print("round %d/%d done" % (round_ + 1, args.rounds), file=sys.stderr, flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print("| configuration | s/epoch (median of %d) |" % args.rounds)
    print("| --- | --- |")
    for name, value in medians.items():
        print("| %s | %.3f |" % (name, value))
    print()
    print("| ratio | value | goal | met |")
    print("| --- | --- | --- | --- |")
    results = []
    for name, ratio, goal in verdicts(medians):
        met = ratio <= goal
        results.append(dict(ratio=name, value=ratio, goal=goal, met=met))
        print("| %s | %.3f | <= %.2f | %s |" % (name, ratio, goal, "yes" if met else "NO"))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(dict(rows=len(y), epochs=args.epochs, rounds=args.rounds,
                           seconds=times, medians=medians, ratios=results), out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
