"""The documentation's "Deploy", "Scale out", "Beyond scikit-learn" and "Model search"
examples run as written (each in a fresh process, in a scratch directory) and print
what they promise.

The pages are ``docs/*.md``, the manual (README.md is the landing page)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
if not DOCS.is_dir():   # wheel and sdist test runs copy only the tests
    pytest.skip("docs/ is not beside the tests", allow_module_level=True)
PAGES = {"Deploy: ONNX and skops": "deploy.md", "Scale out: Dask and Ray": "scale_out.md",
         "Beyond scikit-learn": "beyond.md",
         "Model search: candidates trained together": "model_search.md"}


def _section_code(heading):
    """The Python code blocks of the docs page titled ``heading``."""
    text = (DOCS / PAGES[heading]).read_text(encoding="utf-8")
    assert text.startswith("# " + heading), text[:80]
    return re.findall(r"```python\n(.*?)```", text, re.S)


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
    code = _section_code("Beyond scikit-learn")[0]
    assert "max_iter=40" in code
    loss, accuracy = map(float, _run(code.replace("max_iter=40", "max_iter=3"),
                                     tmp_path).split()[-2:])
    assert 0 < loss < 1 and accuracy > 0.75


def test_beyond_scikit_learn_quantile_example(tmp_path):
    code = _section_code("Beyond scikit-learn")[1]
    assert 'loss="quantile"' in code
    inside = float(_run(code, tmp_path).split()[-1])
    assert 0.75 < inside < 0.85


def test_beyond_scikit_learn_multi_output_example(tmp_path, fashion_mnist):
    code = _section_code("Beyond scikit-learn")[2]
    assert "max_iter=10" in code
    out = _run(code.replace("max_iter=10", "max_iter=2")
                   .replace("clf.fit(data.X_train, labels(data.y_train))",
                            "clf.fit(data.X_train[:20000], labels(data.y_train[:20000]))"),
               tmp_path)
    assert "['feet' 'lower' 'none' 'upper' 'whole']" in out
    assert float(out.split()[-1]) > 0.7


def test_model_search_example(tmp_path, fashion_mnist):
    (code,) = _section_code("Model search: candidates trained together")
    assert "max_iter=10" in code
    best, score = _run(code.replace("max_iter=10", "max_iter=3"),
                       tmp_path).strip().rsplit("} ", 1)
    assert "learning_rate_init" in best and 0.75 < float(score) <= 1.0
