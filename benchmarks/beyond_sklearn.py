"""What the features beyond scikit-learn cost: seconds per training epoch, side by side
in one run, each against its reference (issue "Beyond scikit-learn").

    python benchmarks/beyond_sklearn.py                                # ~4 minutes on 2 cores
    python benchmarks/beyond_sklearn.py --baseline-src /path/to/old/src  # + "switched off"
    python benchmarks/beyond_sklearn.py --json benchmarks/beyond_results.json

Every figure is ``MLPClassifier.fit`` of 784-200-100-10 on the 60,000 Fashion-MNIST
training images (float32, batch 128, ``--epochs`` epochs, tol=0, all threads BLAS is
allowed), divided by the epochs: the median over ``--rounds`` rounds, each round running
every configuration once in a fresh process, in turn, so that drift of the machine hits
all alike.  Targets and the ratio each is judged by:

- switched off (only with ``--baseline-src``, a source tree of cymlp before the
  features, built in place): this cymlp with default parameters (logistic, adam, no
  dropout, no callback, no validation set) / the baseline with the same parameters;
  "nothing measurable" is read as within the spread of the two baseline-like rows;
- dropout 0.2 on both hidden layers / no dropout: at most 1.15;
- each hidden activation / logistic: at most 1.3;
- a callback that does nothing / no callback: the machinery's cost once used.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACTIVATIONS = ["logistic", "identity", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu",
               "softplus"]


def configurations(baseline_src):
    rows = []
    if baseline_src:
        rows.append(("baseline (before the features)", dict(src=str(baseline_src))))
    rows.append(("default parameters", {}))
    rows.append(("dropout 0.2", dict(params=dict(dropout=0.2))))
    rows.append(("no-op callback", dict(callback=True)))
    for name in ACTIVATIONS[1:]:
        rows.append(("activation " + name, dict(params=dict(activation=name))))
    return rows


def one(spec):
    """Fit once as ``spec`` says; print seconds per epoch (run in a fresh process)."""
    import warnings

    import numpy as np

    import cymlp
    from cymlp.datasets import load_fashion_mnist

    data = load_fashion_mnist()
    params = dict(hidden_layer_sizes=(200, 100), activation="logistic", batch_size=128,
                  max_iter=spec["epochs"], tol=0.0, random_state=0)
    params.update(spec.get("params", {}))
    model = cymlp.MLPClassifier(**params)
    if spec.get("callback"):
        class Nothing:
            def setup(self, estimator, context):
                pass

            def teardown(self, estimator, context):
                pass

            def on_fit_task_begin(self, estimator, context):
                pass

            def on_fit_task_end(self, estimator, context):
                return False

        model.set_callbacks(Nothing())
    X, y = np.ascontiguousarray(data.X_train), data.y_train
    model.fit(X[:1000], y[:1000])   # warm up: BLAS, the pool, the workspace
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    print(json.dumps(dict(seconds_per_epoch=seconds / spec["epochs"],
                          cymlp=cymlp.__file__)))


def run(spec, epochs):
    spec = dict(spec, epochs=epochs)
    env = dict(os.environ)
    src = spec.get("src", str(ROOT / "src"))
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], env=env,
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if not result["cymlp"].startswith(src):
        raise RuntimeError("imported %s, not the tree %s" % (result["cymlp"], src))
    return result["seconds_per_epoch"]


def verdicts(medians):
    """Each target with its ratio and whether it is met."""
    out = []
    base = medians["default parameters"]
    if "baseline (before the features)" in medians:
        ratio = base / medians["baseline (before the features)"]
        out.append(("switched off: this cymlp / before the features", ratio, ratio <= 1.03,
                    "<= 1.03"))
    ratio = medians["dropout 0.2"] / base
    out.append(("dropout 0.2 on both hidden layers / none", ratio, ratio <= 1.15, "<= 1.15"))
    ratio = medians["no-op callback"] / base
    out.append(("a no-op callback / none", ratio, ratio <= 1.03, "<= 1.03"))
    for name in ACTIVATIONS[1:]:
        ratio = medians["activation " + name] / base
        out.append(("%s / logistic" % name, ratio, ratio <= 1.3, "<= 1.3"))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-src", type=Path,
                        help="the src/ of a cymlp tree before the features, built in place")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    if args.one:
        one(json.loads(args.one))
        return 0
    rows = configurations(args.baseline_src)
    times = {name: [] for name, _ in rows}
    for r in range(args.rounds):
        for name, spec in rows:
            times[name].append(run(spec, args.epochs))
        print("round %d done" % (r + 1), file=sys.stderr, flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print("| configuration | s / epoch (median) | all rounds |")
    print("| --- | ---: | --- |")
    for name, _ in rows:
        print("| %s | %.3f | %s |" % (name, medians[name],
                                      " ".join("%.3f" % t for t in times[name])))
    print()
    print("| target | ratio | limit | met |")
    print("| --- | ---: | --- | --- |")
    results = verdicts(medians)
    for what, ratio, met, limit in results:
        print("| %s | %.3f | %s | %s |" % (what, ratio, limit, "yes" if met else "no"))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(dict(epochs=args.epochs, rounds=args.rounds, seconds=times,
                           medians=medians,
                           targets=[dict(what=w, ratio=r, limit=lim, met=m)
                                    for w, r, m, lim in results]), out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
