"""scikit-learn's own MLP test module, run against cymlp (issue 15).

The module is copied at test time from the installed scikit-learn (never vendored),
its one import of the estimators switched to cymlp's, with scikit-learn's conftest.py
beside it (for fixtures such as ``global_random_seed``), and run by pytest in a
subprocess.  Everything must pass except ``test_gradient``, which calls scikit-learn's
private ``_loss_grad_lbfgs``, and ``test_mlp_partial_fit_after_fit``, which requires
``partial_fit`` to refuse ``early_stopping=True``: cymlp supports it (issue 26; its
tests in test_partial_fit_early_stopping.py)."""
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import sklearn

SKLEARN = Path(sklearn.__file__).parent
TEST_MODULE = SKLEARN / "neural_network" / "tests" / "test_mlp.py"
IMPORT_LINE = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
# tests that use scikit-learn's private API, not its public behaviour; and one that
# requires a refusal cymlp lifted on purpose (early stopping in partial_fit)
MAY_FAIL = {"test_gradient", "test_mlp_partial_fit_after_fit"}


@pytest.mark.skipif(not TEST_MODULE.is_file(), reason="scikit-learn's tests are not installed")
def test_scikit_learn_mlp_test_module_passes_against_cymlp(tmp_path):
    source = TEST_MODULE.read_text()
    assert source.count(IMPORT_LINE) == 1, "scikit-learn's test module changed its import"
    (tmp_path / "test_mlp.py").write_text(
        source.replace(IMPORT_LINE, "from cymlp import MLPClassifier, MLPRegressor"))
    (tmp_path / "conftest.py").write_text((SKLEARN / "conftest.py").read_text())
    report = tmp_path / "report.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
         "addopts=", "--junitxml", str(report), "test_mlp.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert report.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    failed, passed = set(), 0
    for case in ElementTree.parse(report).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.add(case.get("name"))
        elif case.find("skipped") is None:
            passed += 1
    unexpected = {name for name in failed if name.split("[")[0] not in MAY_FAIL}
    assert not unexpected, "failed against cymlp: %s\n%s" % (sorted(unexpected),
                                                             proc.stdout[-6000:])
    assert passed >= 50, proc.stdout[-3000:]
