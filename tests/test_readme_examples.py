"""The README's "Deploy" and "Scale out" examples run as written (each in a fresh
process, in a scratch directory) and print what they promise."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
if not README.exists():   # wheel and sdist test runs copy only the tests
    pytest.skip("README.md is not beside the tests", allow_module_level=True)


def _section_code(heading):
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## " + heading)
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


def _run(code, tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_deploy_example(tmp_path, fashion_mnist):
    pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skops")
    (code,) = _section_code("Deploy: ONNX and skops")
    out = _run(code, tmp_path)
    same = float(re.search(r"same labels: (\S+) ", out).group(1))
    difference = float(re.search(r"largest probability difference: (\S+)", out).group(1))
    assert same >= 0.999 and difference < 1e-4
    assert "['cymlp.estimators.MLPClassifier', 'cymlp.network.Network', " \
           "'cymlp.optimizers.Adam']" in out
    assert "identical: True" in out
    assert (tmp_path / "pipe.skops").exists()


def test_scale_out_example(tmp_path, fashion_mnist):
    pytest.importorskip("distributed")
    pytest.importorskip("dask_ml")
    (code,) = _section_code("Scale out: Dask and Ray")
    best, score = _run(code, tmp_path).strip().rsplit("} ", 1)
    assert "hidden_layer_sizes" in best and 0.7 < float(score) <= 1.0


def test_beyond_scikit_learn_example(tmp_path, fashion_mnist):
    pytest.importorskip("sklearn.callback")
    pytest.importorskip("rich")
    (code,) = _section_code("Beyond scikit-learn")
    assert "max_iter=40" in code
    loss, accuracy = map(float, _run(code.replace("max_iter=40", "max_iter=3"),
                                     tmp_path).split()[-2:])
    assert 0 < loss < 1 and accuracy > 0.75
