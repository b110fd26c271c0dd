"""The cymlp command: train, evaluate, predict, and one-line errors."""
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

needs_data = pytest.mark.usefixtures("fashion_mnist")


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "cymlp", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, fashion_mnist):
    out = tmp_path_factory.mktemp("run")
    result = run("train", "--epochs", "2", "--layers", "32", "--no-progress",
                 "--output-dir", str(out), "--threads", "1")
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_train_writes_model_metrics_and_plot(trained):
    out, stdout = trained
    assert "epoch 2/2" in stdout
    assert "test accuracy: 0.8" in stdout or "test accuracy: 0.7" in stdout
    assert "(classify)" in stdout
    assert "time per epoch:" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics["epochs"]] == [1, 2]
    assert metrics["epochs"][1]["loss"] < metrics["epochs"][0]["loss"]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "model.npz").stat().st_size > 0


def test_evaluate_prints_metrics_and_confusion_matrix(trained):
    out, _ = trained
    result = run("evaluate", str(out / "model.npz"))
    assert result.returncode == 0, result.stderr
    assert "accuracy:" in result.stdout and "Ankle boot" in result.stdout
    assert "confusion matrix" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.strip().startswith("9 ")]
    assert rows, result.stdout


def test_predict_writes_predictions(trained, tmp_path, fashion_mnist):
    out, _ = trained
    images = (fashion_mnist.X_test[:20] * 255).round().astype(np.uint8).reshape(20, 28, 28)
    np.save(tmp_path / "images.npy", images)
    result = run("predict", str(out / "model.npz"), str(tmp_path / "images.npy"))
    assert result.returncode == 0, result.stderr
    predictions = np.load(tmp_path / "images.pred.npy")
    assert predictions.shape == (20,) and set(predictions) <= set(range(10))


@pytest.mark.parametrize("args, message", [
    (["train", "--epochs", "0"], "must be an integer >= 1"),
    (["train", "--layers", "200,x"], "comma-separated"),
    (["train", "--data-dir", "/nonexistent/dir", "--epochs", "1"], "not a directory"),
    (["train", "--validation-fraction", "1.5"], "must be a number in (0, 1)"),
    # (before: "cannot hold out 20% of ... rows", from train_test_split's check)
    (["train", "--seed", "-1"], "argument --seed: must be an integer from 0 to 4294967295"),
    (["evaluate", "/nonexistent/model.npz"], "/nonexistent/model.npz: no such file"),
    (["predict", "/nonexistent/model.npz", "x.npy"], "/nonexistent/model.npz: no such file"),
])
def test_errors_are_one_line_without_traceback(args, message, tmp_path):
    result = run(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_corrupted_model_is_one_line_error(trained, tmp_path):
    out, _ = trained
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes((out / "model.npz").read_bytes()[:500])
    result = run("evaluate", str(damaged))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "corrupted or truncated" in result.stderr


# -- Ctrl-C at any moment (issue 16) ---------------------------------------------------

def _interrupt(tmp_path, wait_for=None, delay=0.0, extra=()):
    """Start ``cymlp train``, send SIGINT after the line ``wait_for`` (or at once) and
    ``delay`` seconds; return (status, stdout, stderr)."""
    import time
    process = subprocess.Popen(
        [sys.executable, "-m", "cymlp", "train", "--epochs", "500", "--no-progress",
         "--output-dir", str(tmp_path / "run"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    seen = []
    if wait_for is not None:
        for line in process.stdout:
            seen.append(line)
            if line.startswith(wait_for):
                break
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, "".join(seen) + stdout, stderr


def _check_saved_run(run_dir):
    """The saved model and metrics.json agree: epochs, samples, test accuracy."""
    from cymlp import model_io
    metrics = json.loads((run_dir / "metrics.json").read_text())
    model = model_io.load(run_dir / "model.npz")
    assert metrics["interrupted"]
    assert len(metrics["epochs"]) == metrics["epochs_completed"] == len(model.loss_curve_)
    assert metrics["samples_trained"] == model.t_ > 0
    return metrics


@needs_data
def test_ctrl_c_mid_epoch_of_a_later_epoch_stops_within_a_batch_and_saves(tmp_path):
    # before: the signal was swallowed by partial_fit, all epochs ran, exit 0
    status, stdout, stderr = _interrupt(tmp_path, "epoch 2/", 0.3,
                                        ("--batch-size", "16", "--layers", "256,128"))
    assert status == 130, stderr
    assert "Traceback" not in stderr and "interrupted after" in stderr
    metrics = _check_saved_run(tmp_path / "run")
    assert metrics["epochs_completed"] >= 2
    assert metrics["epochs_completed"] < 10


@needs_data
def test_ctrl_c_in_the_first_epoch(tmp_path):
    # before: AttributeError 'loss_', exit 1, an empty run folder
    status, stdout, stderr = _interrupt(tmp_path, "cymlp: training", 0.4,
                                        ("--batch-size", "16", "--layers", "256,128"))
    assert status == 130, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    if "nothing was trained" in stderr:
        assert not (tmp_path / "run").exists()
    else:
        metrics = _check_saved_run(tmp_path / "run")
        assert metrics["epochs_completed"] == 0 and metrics["interrupted_epoch"]["epoch"] == 1


def test_ctrl_c_during_start_up_is_one_line(tmp_path):
    # before: a full traceback from inside the imports
    status, _, stderr = _interrupt(tmp_path, None, 0.05)
    assert status == 130 or status == -signal.SIGINT, stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


# -- messages, help and files (issue 16) ------------------------------------------------

def test_version_and_help_without_importing_scikit_learn():
    import cymlp
    assert run("--version").stdout.strip() == "cymlp " + cymlp.__version__
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "cymlp", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "cymlp train" in proc.stdout
    assert "``" not in proc.stdout
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()}
    assert not {"sklearn", "pandas", "scipy", "matplotlib"} & imported
    train_help = run("train", "--help").stdout
    for option in ("--layers", "--epochs", "--batch-size", "--data-dir", "--threads"):
        assert option in train_help
    assert "(default: 30)" in train_help


@pytest.mark.parametrize("args, message", [
    (["train", "--epochs", "x"], "must be an integer"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_are_one_line(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert "usage:" not in result.stderr


def test_failed_runs_leave_no_run_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (["--data-dir", str(tmp_path / "missing")], ["--data-dir", str(empty)]):
        result = subprocess.run([sys.executable, "-m", "cymlp", "train", "--epochs", "1",
                                 *args], capture_output=True, text=True, cwd=tmp_path,
                                timeout=300)
        assert result.returncode == 2
        assert not (tmp_path / "runs").exists(), result.stderr
    # a folder the user names must hold the data: no silent fallback to another copy
    assert "does not hold fashion-mnist" in result.stderr and str(empty) in result.stderr


@needs_data
def test_train_reports_its_data_source_and_environment(trained):
    out, stdout = trained
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["source"] in stdout
    assert set(metrics["data"]["sha256"]) == {"train-images-idx3-ubyte",
                                              "train-labels-idx1-ubyte",
                                              "t10k-images-idx3-ubyte",
                                              "t10k-labels-idx1-ubyte"}
    assert metrics["environment"]["cymlp"] and metrics["environment"]["threads"] >= 1
    assert "blas" in metrics["environment"]


@needs_data
def test_model_file_gets_the_usual_file_mode(trained):
    out, _ = trained
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "model.npz").stat().st_mode & 0o777 == 0o666 & ~umask


@needs_data
def test_progress_bar_goes_to_stderr(tmp_path):
    result = subprocess.run([sys.executable, "-m", "cymlp", "train", "--epochs", "1",
                             "--layers", "16", "--output-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout and "epochs" in result.stderr


def test_predict_reports_bad_inputs_by_name(trained, tmp_path):
    out, _ = trained
    model = str(out / "model.npz")
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros(784, np.float32))
    archive = tmp_path / "two.npz"
    np.savez(archive, a=np.zeros((2, 784)), b=np.zeros(3))
    cases = [
        ([model, str(text)], "notes.npz is not a NumPy .npy or .npz file"),
        ([model, str(flat)], "flat.npy holds a 1-D array of 784 values"),
        ([model, str(archive)], "two.npz holds the arrays a, b; choose one with --key"),
        ([str(flat), str(flat)], "flat.npy is not a readable cymlp model file"),
        ([str(tmp_path / "nope.npz"), str(flat)], "nope.npz: no such file"),
    ]
    for args, message in cases:
        result = run("predict", *args)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    # an .npz archive (before: a traceback), chosen by --key
    result = run("predict", model, str(archive), "--key", "a", "--output",
                 str(tmp_path / "p.npy"))
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "p.npy").shape == (2,)


def _declaring_npz(path, rows, columns=784):
    """An .npz whose deflated X.npy declares ``rows`` x ``columns`` float64 and holds a
    few bytes: what a few MB of zeros inflating to tens of GB look like before inflating."""
    import io
    import zipfile
    header = io.BytesIO()
    np.lib.format.write_array_header_2_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (rows, columns)})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("X.npy", header.getvalue() + bytes(4096))
        labels = io.BytesIO()
        np.save(labels, np.arange(3))
        archive.writestr("y.npy", labels.getvalue())
    return path


def test_npz_arrays_larger_than_memory_are_refused_before_inflating(trained, tmp_path):
    out, _ = trained
    forged = str(_declaring_npz(tmp_path / "forged.npz", 1 << 32))   # 27 TB declared
    result = run("predict", str(out / "model.npz"), forged)
    assert result.returncode == 2, result.stderr
    assert "forged.npz: the arrays 'X' declare 2.69e+04 GB, more than the" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run("train", "--data", forged, "--epochs", "1", "--no-progress",
                 "--output-dir", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "more than the" in result.stderr and "of memory available" in result.stderr


def test_data_and_inputs_must_be_regular_files(trained, tmp_path):
    # a FIFO blocked the command forever; /dev/zero as a CSV grew to 7 GB in 25 s
    if not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"):
        pytest.skip("needs POSIX FIFOs and /dev/zero")
    out, _ = trained
    os.mkfifo(tmp_path / "fifo.csv")
    os.mkfifo(tmp_path / "fifo.npy")
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    (tmp_path / "zero.npy").symlink_to("/dev/zero")
    cases = [
        (["train", "--data", str(tmp_path / "fifo.csv")], "fifo.csv is a FIFO (named pipe)"),
        (["train", "--data", str(tmp_path / "zero.csv")], "zero.csv is a character device"),
        (["predict", str(out / "model.npz"), str(tmp_path / "fifo.npy")], "fifo.npy is a FIFO"),
        (["predict", str(out / "model.npz"), str(tmp_path / "zero.npy")],
         "zero.npy is a character device, not a regular file"),
        (["evaluate", str(tmp_path / "zero.npy")], "not a model file"),
    ]
    for args, message in cases:
        result = run(*args, timeout=60)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_npz_arrays_are_read_when_memory_allows(tmp_path, monkeypatch):
    from cymlp import _cli_data
    from cymlp.cli import CLIError
    path = tmp_path / "data.npz"
    np.savez_compressed(path, X=np.zeros((1000, 100)), y=np.arange(1000))   # 808,000 bytes
    monkeypatch.setattr(_cli_data, "available_memory", lambda: 800_000)
    with np.load(path) as archive, pytest.raises(CLIError, match="declare 0.000808 GB"):
        _cli_data.read_npz_arrays(archive, ("X", "y"), path)
    monkeypatch.setattr(_cli_data, "available_memory", lambda: 808_000)
    with np.load(path) as archive:
        X, y = _cli_data.read_npz_arrays(archive, ("X", "y"), path)
    assert X.shape == (1000, 100) and (y == np.arange(1000)).all()


def test_available_memory_is_read_from_the_kernel():
    from cymlp._cli_data import available_memory
    with open("/proc/meminfo") as handle:
        total = int(next(line for line in handle if line.startswith("MemTotal:")).split()[1])
    assert 0 < available_memory() <= total * 1024


def test_predict_never_overwrites_its_inputs_nor_writes_elsewhere(trained, tmp_path):
    out, _ = trained
    model = out / "model.npz"
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((3, 784), np.float32))
    before = rows.read_bytes()
    same_model = tmp_path / "model-copy.npy"   # a model file may have any name
    same_model.write_bytes(model.read_bytes())
    cases = [
        # np.save appended .npy and the message named the path asked for
        (["--output", str(tmp_path / "preds.txt")], "must end in .npy or .csv"),
        (["--output", str(tmp_path)], "must end in .npy or .csv"),
        (["--output", str(rows)], "rows.npy is the input file, which would be overwritten"),
    ]
    for extra, message in cases:
        result = run("predict", str(model), str(rows), *extra)
        assert result.returncode == 2 and message in result.stderr, result.stderr
    result = run("predict", str(same_model), str(rows), "--output", str(same_model))
    assert result.returncode == 2 and "is the model file" in result.stderr
    assert rows.read_bytes() == before and same_model.read_bytes() == model.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-copy.npy", "rows.npy"]
    for name in ("p.npy", "p.csv"):
        result = run("predict", str(model), str(rows), "--output", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-copy.npy", "p.csv",
                                                           "p.npy", "rows.npy"]


# -- any dataset, both tasks (issue 16) --------------------------------------------------

def _user_data(tmp_path):
    """A small classification table with string labels and a regression set."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 4))
    labels = np.array(["cat", "dog", "emu"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    values = X @ np.array([1.5, -2.0, 0.5, 1.0]) + 0.1 * rng.normal(size=240)
    csv_path = tmp_path / "animals.csv"
    lines = ["a,b,c,d,species"] + ["%r,%r,%r,%r,%s" % (*row, label)
                                    for row, label in zip(X.tolist(), labels)]
    csv_path.write_text("\n".join(lines) + "\n")
    tsv_path = tmp_path / "values.tsv"
    tsv_path.write_text("y\tx1\tx2\tx3\tx4\n" + "".join(
        "%r\t%r\t%r\t%r\t%r\n" % (v, *row) for v, row in zip(values.tolist(), X.tolist())))
    np.savez(tmp_path / "values.npz", X=X, y=values)
    np.savez(tmp_path / "labels.npz", features=X, target=(X[:, 0] > 0).astype(int))
    return X, labels, values


def _train_user(tmp_path, *args):
    out = tmp_path / ("run-%d" % len(list(tmp_path.glob("run-*"))))
    result = run("train", "--epochs", "3", "--layers", "8", "--batch-size", "32",
                 "--no-progress", "--output-dir", str(out), *args)
    assert result.returncode == 0, result.stderr
    return out, result.stdout, json.loads((out / "metrics.json").read_text())


def test_train_on_a_csv_with_string_labels_and_predict_them(tmp_path):
    X, labels, _ = _user_data(tmp_path)
    out, stdout, metrics = _train_user(tmp_path, "--data", str(tmp_path / "animals.csv"),
                                       "--target", "species")
    assert "4-8-3 (classify)" in stdout and "animals.csv" in stdout
    assert metrics["score"] == "accuracy" and 0 <= metrics["test_score"] <= 1
    assert metrics["data"]["feature_names"] == ["a", "b", "c", "d"]
    assert list(metrics["data"]["sha256"]) == ["animals.csv"]
    np.save(tmp_path / "rows.npy", X[:10])
    result = run("predict", str(out / "model.npz"), str(tmp_path / "rows.npy"))
    assert result.returncode == 0, result.stderr
    assert set(np.load(tmp_path / "rows.pred.npy")) <= {"cat", "dog", "emu"}
    result = run("predict", str(out / "model.npz"), str(tmp_path / "rows.npy"), "--proba",
                 "--output", str(tmp_path / "proba.csv"))
    assert result.returncode == 0, result.stderr
    header, *rows = (tmp_path / "proba.csv").read_text().splitlines()
    assert header == "proba_cat,proba_dog,proba_emu" and len(rows) == 10
    assert abs(sum(map(float, rows[0].split(","))) - 1) < 1e-5


def test_train_regression_from_tsv_and_npz(tmp_path):
    X, _, values = _user_data(tmp_path)
    out, stdout, metrics = _train_user(tmp_path, "--data", str(tmp_path / "values.tsv"),
                                       "--target", "y")
    assert "4-8-1 (regress)" in stdout and metrics["score"] == "R2"
    out, stdout, metrics = _train_user(tmp_path, "--data", str(tmp_path / "values.npz"),
                                       "--test-data", str(tmp_path / "values.npz"))
    assert "(regress)" in stdout and "test data:" in metrics["data"]["source"]
    np.savez(tmp_path / "rows.npz", X=X[:5])
    result = run("predict", str(out / "model.npz"), str(tmp_path / "rows.npz"), "--output",
                 str(tmp_path / "values.csv"))
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "values.csv").read_text().splitlines()) == 6


def test_train_on_npz_with_named_keys_and_forced_task(tmp_path):
    _user_data(tmp_path)
    _, stdout, _ = _train_user(tmp_path, "--data", str(tmp_path / "labels.npz"), "--x-key",
                               "features", "--y-key", "target")
    assert "4-8-1 (classify)" in stdout
    _, stdout, _ = _train_user(tmp_path, "--data", str(tmp_path / "labels.npz"), "--x-key",
                               "features", "--y-key", "target", "--task", "regress")
    assert "(regress)" in stdout


def test_train_on_a_folder_of_idx_files(tmp_path):
    from test_datasets import write_fake_set
    write_fake_set(tmp_path / "idx", n_train=300, n_test=20)
    _, stdout, metrics = _train_user(tmp_path, "--data", str(tmp_path / "idx"))
    assert "784-8-" in stdout and "IDX files in" in stdout
    assert len(metrics["data"]["sha256"]) == 4


@pytest.mark.parametrize("args, message", [
    (["--data", "nowhere.csv"], "nowhere.csv: no such file or directory"),
    (["--data", "DATA/animals.csv", "--target", "colour"], "has no column 'colour'"),
    (["--data", "DATA/labels.npz"], "has no array 'X'"),
    (["--data", "DATA/bad.csv"], "line 3: column 'b' is not a number"),
    (["--data", "DATA/inf.csv"], "inf.csv, line 3: column 'b' is 1e999, not a finite number"),
    (["--data", "DATA/nan.csv"], "nan.csv, line 2: column 'a' is NaN, not a finite number"),
    (["--data", "DATA/nan.csv", "--target", "a"],
     "nan.csv, line 2: the target 'a' is NaN, not a finite number"),
    (["--data", "DATA/animals.csv", "--task", "regress"], "--task regress needs numeric"),
])
def test_bad_user_data_is_one_line_naming_the_file(tmp_path, args, message):
    _user_data(tmp_path)
    (tmp_path / "bad.csv").write_text("a,b,y\n1,2,x\n3,four,y\n")
    (tmp_path / "inf.csv").write_text("a,b,y\n1,2,x\n3,1e999,y\n")
    (tmp_path / "nan.csv").write_text("a,y\nNaN,1\nnan,2\n")
    args = [a.replace("DATA", str(tmp_path)) for a in args]
    result = subprocess.run([sys.executable, "-m", "cymlp", "train", "--epochs", "1", *args],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_spreadsheet_csv_with_a_byte_order_mark_and_few_rows(tmp_path):
    # "CSV UTF-8" from a spreadsheet starts with a BOM, which must not become part of the
    # first column's name; 30 rows with the default batch of 128: the batch is the
    # training rows, said in the banner, with no warning about clipping
    rows = "".join("%d,%d,%s\n" % (i, i % 7, "yes" if i % 3 else "no") for i in range(30))
    (tmp_path / "sheet.csv").write_text("size,age,label\n" + rows, encoding="utf-8-sig")
    out = tmp_path / "run"
    result = run("train", "--data", str(tmp_path / "sheet.csv"), "--target", "label",
                 "--epochs", "2", "--layers", "4", "--no-progress", "--output-dir", str(out))
    assert result.returncode == 0, result.stderr
    n_train = int(re.search(r": (\d+) train /", result.stdout).group(1))
    assert n_train < 30 and "batch %d," % n_train in result.stdout
    assert "clipped" not in result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["feature_names"] == ["size", "age"]


def test_init_from_continues_a_saved_model_and_early_stopping_keeps_the_best(tmp_path):
    from cymlp import model_io
    _user_data(tmp_path)
    data = ["--data", str(tmp_path / "animals.csv")]
    first, _, _ = _train_user(tmp_path, *data)
    # a table's model file holds its preprocessing and the estimator (issue 25)
    before = model_io.pipeline_estimator(model_io.load(first / "model.npz"))
    second, stdout, metrics = _train_user(tmp_path, *data, "--init-from",
                                          str(first / "model.npz"), "--layers", "99")
    assert "4-8-3" in stdout and metrics["initial_model"] == str(first / "model.npz")
    after = model_io.pipeline_estimator(model_io.load(second / "model.npz"))
    assert after.t_ > before.t_
    result = run("train", "--epochs", "1", "--data", str(tmp_path / "values.tsv"), "--target",
                 "y", "--init-from", str(first / "model.npz"))
    assert result.returncode == 2 and "holds a MLPClassifier" in result.stderr
    out, stdout, metrics = _train_user(tmp_path, "--data", str(tmp_path / "values.tsv"),
                                       "--target", "y", "--epochs", "60",
                                       "--learning-rate", "0.05", "--early-stopping",
                                       "--patience", "3")
    scores = [row["validation_score"] for row in metrics["epochs"]]
    best = metrics["best_epoch"]
    assert scores[best - 1] == max(scores)
    assert len(scores) <= 60 and (len(scores) == 60 or len(scores) - best == 3)
    model = model_io.pipeline_estimator(model_io.load(out / "model.npz"))
    assert model.loss_curve_   # the saved model is the best epoch's weights


def test_evaluate_on_user_data_for_both_tasks(tmp_path):
    _user_data(tmp_path)
    classifier, _, _ = _train_user(tmp_path, "--data", str(tmp_path / "animals.csv"))
    result = run("evaluate", str(classifier / "model.npz"), "--data",
                 str(tmp_path / "animals.csv"))
    assert result.returncode == 0, result.stderr
    assert "rows of " in result.stdout and "emu" in result.stdout
    regressor, _, _ = _train_user(tmp_path, "--data", str(tmp_path / "values.npz"))
    result = run("evaluate", str(regressor / "model.npz"), "--data",
                 str(tmp_path / "values.npz"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("R2: ") and "240 rows" in result.stdout
    result = run("evaluate", str(regressor / "model.npz"), "--data",
                 str(tmp_path / "animals.csv"))
    assert result.returncode == 2 and "non-numeric targets" in result.stderr
