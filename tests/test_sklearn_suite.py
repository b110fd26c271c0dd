"""scikit-learn's own MLP and search test modules, run against cymlp (issues 15, 27).

The module is copied at test time from the installed scikit-learn (never vendored),
its one import of the estimators switched to cymlp's, with scikit-learn's conftest.py
beside it (for fixtures such as ``global_random_seed``), and run by pytest in a
subprocess.  Everything must pass except ``test_gradient``, which calls scikit-learn's
private ``_loss_grad_lbfgs``, and ``test_mlp_partial_fit_after_fit``, which requires
``partial_fit`` to refuse ``early_stopping=True``: cymlp supports it (issue 26; its
tests in test_partial_fit_early_stopping.py).

scikit-learn's search tests (model_selection/tests/test_search.py) run likewise with
``GridSearchCV`` and ``RandomizedSearchCV`` rebound to ``cymlp.model_selection``'s after
the module's imports: every one must pass.  Their estimators are scikit-learn's, so
they check cymlp's ``fit`` of the search (the task layout, results, refit, scoring,
callbacks, errors); tests/test_search.py checks the grouped training of cymlp's
estimators against scikit-learn's search."""
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


SEARCH_MODULE = SKLEARN / "model_selection" / "tests" / "test_search.py"
SEARCH_LAST_IMPORT = "from sklearn.utils.validation import _num_samples\n"


def _run_copied(tmp_path, name, source):
    """Run scikit-learn's test module ``source`` (as ``name``) beside its conftest.py;
    return (failed test names, passed count, output)."""
    (tmp_path / name).write_text(source)
    (tmp_path / "conftest.py").write_text((SKLEARN / "conftest.py").read_text())
    report = tmp_path / "report.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
         "addopts=", "--junitxml", str(report), name],
        cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert report.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    failed, passed = set(), 0
    for case in ElementTree.parse(report).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.add(case.get("name"))
        elif case.find("skipped") is None:
            passed += 1
    return failed, passed, proc.stdout


@pytest.mark.skipif(not TEST_MODULE.is_file(), reason="scikit-learn's tests are not installed")
def test_scikit_learn_mlp_test_module_passes_against_cymlp(tmp_path):
    source = TEST_MODULE.read_text()
    assert source.count(IMPORT_LINE) == 1, "scikit-learn's test module changed its import"
    failed, passed, output = _run_copied(
        tmp_path, "test_mlp.py",
        source.replace(IMPORT_LINE, "from cymlp import MLPClassifier, MLPRegressor"))
    unexpected = {name for name in failed if name.split("[")[0] not in MAY_FAIL}
    assert not unexpected, "failed against cymlp: %s\n%s" % (sorted(unexpected),
                                                             output[-6000:])
    assert passed >= 50, output[-3000:]


@pytest.mark.skipif(not SEARCH_MODULE.is_file(),
                    reason="scikit-learn's tests are not installed")
def test_scikit_learn_search_test_module_passes_against_cymlp(tmp_path):
    source = SEARCH_MODULE.read_text()
    assert source.count(SEARCH_LAST_IMPORT) == 1, "scikit-learn's test imports changed"
    failed, passed, output = _run_copied(tmp_path, "test_search.py", source.replace(
        SEARCH_LAST_IMPORT, SEARCH_LAST_IMPORT
        + "from cymlp.model_selection import GridSearchCV, RandomizedSearchCV  # noqa\n"))
    assert not failed, "failed against cymlp: %s\n%s" % (sorted(failed), output[-6000:])
    assert passed >= 100, output[-3000:]
