"""Deployment: ONNX Runtime running cymlp's exported graph against cymlp itself, on the
10,000 Fashion-MNIST test images (needs the ``onnx`` extra).

    python benchmarks/deploy.py                                   # ~1 minute on 2 cores
    python benchmarks/deploy.py --json benchmarks/deploy_results.json   # keep the numbers

The model is a 784-200-100-10 ``MLPClassifier`` (logistic, Adam, float32) trained for
``--epochs`` epochs on the 60,000 training images, exported with ``cymlp.onnx.to_onnx``
(``zipmap=False``).  For 1 thread and for 2 (cymlp: ``threadpool_limits``; ONNX Runtime:
``intra_op_num_threads``) it times:

- throughput: ``predict_proba`` of all 10,000 images in one call, best of ``--rounds``,
  as images per second;
- latency: ``predict_proba`` of one image, ``--calls`` calls over different images, the
  median and the mean in microseconds (ONNX Runtime's ``session.run`` includes building
  its input dict, as a service calling it would).

It also checks that both give the same labels and probabilities within 1e-5.
"""
import argparse
import json
import statistics
import sys
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import cymlp
import cymlp.onnx
from cymlp.datasets import load_fashion_mnist


def train(epochs):
    data = load_fashion_mnist()
    model = cymlp.MLPClassifier((200, 100), activation="logistic", batch_size=128,
                                max_iter=epochs, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data.X_train, data.y_train)
    return model, data


def session_for(onx, threads):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(onx.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def best_time(call, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def one_sample_us(call, X, calls):
    times = []
    for i in range(calls):
        row = X[i % len(X)][None, :]
        start = time.perf_counter()
        call(row)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6, statistics.fmean(times) * 1e6


def measure(model, X, onx, threads, rounds, calls):
    session = session_for(onx, threads)
    name = session.get_inputs()[0].name

    def onnx_proba(rows):
        return session.run(["probabilities"], {name: rows})[0]

    rows = {}
    with threadpool_limits(threads):
        for label, proba in (("cymlp", model.predict_proba), ("ONNX Runtime", onnx_proba)):
            proba(X[:100])   # warm up
            seconds = best_time(lambda: proba(X), rounds)
            median, mean = one_sample_us(proba, X, calls)
            rows[label] = dict(images_per_s=len(X) / seconds, median_us=median,
                               mean_us=mean)
        got, expected = onnx_proba(X), model.predict_proba(X)
    agree = dict(max_abs_difference=float(np.abs(got - expected).max()),
                 same_labels=float((got.argmax(1) == expected.argmax(1)).mean()))
    return rows, agree


def markdown(results):
    lines = ["| threads | runtime | 10k test images: images/s | one image: median µs "
             "| one image: mean µs |", "| ---: | --- | ---: | ---: | ---: |"]
    for threads, rows in results["threads"].items():
        for label, row in rows.items():
            lines.append("| %s | %s | %.0f | %.1f | %.1f |" % (
                threads, label, row["images_per_s"], row["median_us"], row["mean_us"]))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    model, data = train(args.epochs)
    X = data.X_test
    onx = cymlp.onnx.to_onnx(model, X[:1], options={"zipmap": False})
    results = dict(model="784-200-100-10 logistic float32, %d epochs" % args.epochs,
                   test_accuracy=float(model.score(X, data.y_test)), threads={})
    for threads in (1, 2):
        rows, agree = measure(model, X, onx, threads, args.rounds, args.calls)
        results["threads"][str(threads)] = rows
        results["agreement"] = agree
        ratio = rows["cymlp"]["images_per_s"] / rows["ONNX Runtime"]["images_per_s"]
        latency = rows["ONNX Runtime"]["median_us"] / rows["cymlp"]["median_us"]
        print("%d thread(s): cymlp throughput %.2fx ONNX Runtime's; ONNX Runtime's median "
              "one-image latency %.2fx cymlp's" % (threads, ratio, latency))
    print(markdown(results))
    print("agreement: %s" % results["agreement"])
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
