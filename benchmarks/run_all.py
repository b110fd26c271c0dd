"""Run every benchmark in one go: epoch times, prediction speed, peak memory.

    python benchmarks/run_all.py            # full: batch 32/128/512, float32/64, 1 and 2 threads
    python benchmarks/run_all.py --quick    # batch 128, float32, 2 threads (under 3 minutes)

Prints markdown tables (each row also as a ratio to cymlp's Network measured in the same
run) and writes the numbers as JSON (``--json``, default benchmarks/results.json).  Every
figure is the median of ``--repeats`` runs (at least 3) after one warm-up; the epochs of
all peers of one configuration are timed in interleaved rounds.  Real data:
Fashion-MNIST (``cymlp.datasets``).  Thread counts are set with threadpoolctl for the
BLAS libraries and ``torch.set_num_threads`` for PyTorch.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402

from cymlp.datasets import load_fashion_mnist  # noqa: E402

HERE = Path(__file__).resolve().parent


def set_threads(n):
    """Limit BLAS and PyTorch to n threads; return the threadpoolctl context."""
    if peers.Torch.available():
        import torch

        torch.set_num_threads(n)
    return threadpool_limits(n)


# Pause between two timed epochs of the interleaved rounds: BLAS and OpenMP worker
# threads spin for ~0.1-0.2 s after a threaded call and would slow the next peer.
SETTLE_SECONDS = 0.3


def median_time(function, repeats):
    """Median wall time of ``function()`` over ``repeats`` calls after one warm-up."""
    return interleaved_medians([function], repeats)[0]


def interleaved_medians(functions, repeats):
    """Median wall time of each function, timed in rounds.

    One warm-up call each, then ``repeats`` rounds that call every function once, with
    a pause before each call: a slow spell of a shared machine then lands on every peer
    alike instead of on one peer's block of repeats, and the ratios stay fair.
    """
    for function in functions:
        function()
    times = [[] for _ in functions]
    for _ in range(repeats):
        for function, spent in zip(functions, times):
            time.sleep(SETTLE_SECONDS)
            start = time.perf_counter()
            function()
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]


def bench_epochs(data, threads, dtypes, batches, repeats):
    rows = []
    for n_threads in threads:
        with set_threads(n_threads):
            for dtype in dtypes:
                for batch in batches:
                    group = []
                    for peer_class in peers.TRAINING_PEERS:
                        if peer_class.available():
                            group.append(peer_class())
                            group[-1].setup(data.X_train, data.y_train,
                                            np.dtype(dtype).type, batch)
                    medians = interleaved_medians([peer.epoch for peer in group], repeats)
                    for peer, seconds in zip(group, medians):
                        rows.append(dict(kind="epoch", peer=peer.name, threads=n_threads,
                                         dtype=dtype, batch=batch, seconds=seconds))
                        print("  epoch  %-26s threads=%d %s batch=%-4d %.3f s"
                              % (peer.name, n_threads, dtype, batch, seconds), flush=True)
                    del group
    return rows


def call_latencies(predict, one, calls=2000):
    """Time ``calls`` back-to-back ``predict(one)`` calls one by one.

    Returns
    -------
    median_us, mean_us : float
        The median and the mean call time in microseconds (each call timed with
        ``perf_counter_ns``, whose own ~0.1 us is included).
    """
    times = np.empty(calls)
    clock = time.perf_counter_ns
    for i in range(calls):
        start = clock()
        predict(one)
        times[i] = clock() - start
    return float(np.median(times)) / 1e3, float(times.mean()) / 1e3


def bench_prediction(data, threads, repeats):
    rows = []
    one = np.ascontiguousarray(data.X_test[:1])
    for n_threads in threads:
        with set_threads(n_threads):
            for peer_class in peers.PREDICTING_PEERS:
                if not peer_class.available():
                    continue
                peer = peer_class()
                peer.setup(data.X_train[:2000], data.y_train[:2000], np.float32, 128)
                peer.epoch()
                seconds = median_time(lambda: peer.predict(data.X_test), repeats)
                time.sleep(SETTLE_SECONDS)
                medians, means = zip(*(call_latencies(peer.predict, one)
                                       for _ in range(repeats)))
                rows.append(dict(kind="predict", peer=peer.name, threads=n_threads,
                                 dtype="float32", images_per_second=len(data.y_test) / seconds,
                                 single_sample_us=statistics.median(medians),
                                 single_sample_mean_us=statistics.median(means)))
                print("  predict %-26s threads=%d %.0f images/s, one sample %.1f us "
                      "(median call; mean %.1f us)"
                      % (peer.name, n_threads, rows[-1]["images_per_second"],
                         rows[-1]["single_sample_us"], rows[-1]["single_sample_mean_us"]),
                      flush=True)
    return rows


def bench_memory(peer_names, threads, batch):
    rows = []
    for name in peer_names:
        out = subprocess.run([sys.executable, str(HERE / "memory.py"), name, str(batch),
                              str(threads)], capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(dict(kind="memory", threads=threads, batch=batch, **row))
        print("  memory %-26s peak during fit %.0f MB over the baseline"
              % (name, row["fit_mb"]), flush=True)
    return rows


def ratio(value, reference):
    return "%.2f×" % (value / reference) if reference else "n/a"


def markdown(rows):
    """Markdown tables of the results with ratios to cymlp (Network)."""
    lines = []
    epoch_rows = [r for r in rows if r["kind"] == "epoch"]
    configs = sorted({(r["threads"], r["dtype"], r["batch"]) for r in epoch_rows})
    if configs:
        lines += ["### Seconds per training epoch (60,000 images, 784-200-100-10)", "",
                  "| threads | dtype | batch | implementation | s/epoch | × cymlp |",
                  "| ---: | --- | ---: | --- | ---: | ---: |"]
        for threads, dtype, batch in configs:
            group = [r for r in epoch_rows if (r["threads"], r["dtype"], r["batch"]) ==
                     (threads, dtype, batch)]
            ref = next(r["seconds"] for r in group if r["peer"] == peers.CymlpNetwork.name)
            for r in group:
                lines.append("| %d | %s | %d | %s | %.3f | %s |" % (
                    threads, dtype, batch, r["peer"], r["seconds"], ratio(r["seconds"], ref)))
        lines.append("")
    predict_rows = [r for r in rows if r["kind"] == "predict"]
    if predict_rows:
        lines += ["### Prediction (float32)", "",
                  "| threads | implementation | 10k test images: images/s | × cymlp "
                  "| one sample: median µs | × cymlp | one sample: mean µs |",
                  "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
        for threads in sorted({r["threads"] for r in predict_rows}):
            group = [r for r in predict_rows if r["threads"] == threads]
            ref = next(r for r in group if r["peer"] == peers.CymlpNetwork.name)
            for r in group:
                lines.append("| %d | %s | %.0f | %s | %.1f | %s | %.1f |" % (
                    threads, r["peer"], r["images_per_second"],
                    ratio(ref["images_per_second"], r["images_per_second"]),
                    r["single_sample_us"], ratio(r["single_sample_us"], ref["single_sample_us"]),
                    r["single_sample_mean_us"]))
        lines.append("")
    memory_rows = [r for r in rows if r["kind"] == "memory"]
    if memory_rows:
        lines += ["### Peak memory of a one-epoch fit (float32, batch %d)" % memory_rows[0]["batch"],
                  "", "| implementation | peak RSS over the baseline: MB | budget: data + 2× model "
                  "+ workspace + 50 MB | within |", "| --- | ---: | ---: | --- |"]
        for r in memory_rows:
            lines.append("| %s | %.0f | %.0f | %s |" % (r["peer"], r["fit_mb"], r["budget_mb"],
                                                      "yes" if r["fit_mb"] <= r["budget_mb"] else "no"))
        lines.append("")
    return "\n".join(lines)


def environment():
    import scipy
    import sklearn

    info = dict(python=platform.python_version(), machine=platform.machine(),
                cpus=os.cpu_count(), numpy=np.__version__, scipy=scipy.__version__,
                sklearn=sklearn.__version__,
                blas=[(i["filepath"].rsplit("/", 1)[-1], i.get("version"), i.get("num_threads"))
                      for i in threadpool_info()])
    if peers.Torch.available():
        import torch

        info["torch"] = torch.__version__
    return info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", default=None, help="e.g. 1,2")
    parser.add_argument("--dtypes", default=None, help="e.g. float32,float64")
    parser.add_argument("--batches", default=None, help="e.g. 32,128,512")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=str(HERE / "results.json"))
    parser.add_argument("--markdown", default=None, help="also write the tables here")
    args = parser.parse_args(argv)
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")
    split = lambda text, cast: [cast(x) for x in text.split(",")]
    threads = split(args.threads, int) if args.threads else ([2] if args.quick else [1, 2])
    dtypes = split(args.dtypes, str) if args.dtypes else (
        ["float32"] if args.quick else ["float32", "float64"])
    batches = split(args.batches, int) if args.batches else ([128] if args.quick else [32, 128, 512])

    data = load_fashion_mnist()
    print("benchmarks on Fashion-MNIST, threads %s, dtypes %s, batches %s, %d repeats"
          % (threads, dtypes, batches, args.repeats), flush=True)
    rows = bench_epochs(data, threads, dtypes, batches, args.repeats)
    rows += bench_prediction(data, threads, args.repeats)
    memory_peers = [p.name for p in (peers.CymlpNetwork, peers.CymlpEstimator, peers.Sklearn,
                                     peers.Torch) if p.available()]
    rows += bench_memory(memory_peers, max(threads), 128)
    table = markdown(rows)
    print()
    print(table)
    Path(args.json).write_text(json.dumps(dict(environment=environment(), rows=rows), indent=2))
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    print("wrote", args.json)


if __name__ == "__main__":
    main()
