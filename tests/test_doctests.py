"""The examples in the public docstrings run and print what they show."""
import doctest
import importlib
import warnings

import pytest

# the modules whose docstrings hold examples
MODULES = ["cymlp.estimators", "cymlp.network", "cymlp.onnx", "cymlp.tables",
           "cymlp.model_selection"]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    if module_name == "cymlp.onnx":
        pytest.importorskip("skl2onnx")
    module = importlib.import_module(module_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # ConvergenceWarning of the short examples
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS |
                                 doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
