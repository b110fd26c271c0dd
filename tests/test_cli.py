"""The cymlp command: train, evaluate, predict, and one-line errors."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from cymlp import datasets

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
    (["evaluate", "/nonexistent/model.npz"], "No such file"),
    (["predict", "/nonexistent/model.npz", "x.npy"], "No such file"),
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


@needs_data
def test_ctrl_c_saves_what_was_trained_and_exits_non_zero(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "cymlp", "train", "--epochs", "500", "--layers", "32",
         "--no-progress", "--output-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("epoch 1/"):
            break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted after" in stdout
    assert (tmp_path / "model.npz").exists()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["interrupted"] and len(metrics["epochs"]) >= 1
