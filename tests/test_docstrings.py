"""Every public class, function and method has a complete numpydoc docstring: every
parameter, return value and attribute described, sections well formed (numpydoc's
validator; "See Also", "Examples" and an extended summary are not required)."""
import importlib
import inspect

import pytest

import cymlp

validate = pytest.importorskip("numpydoc.validate").validate

# not required of every docstring: See Also, Examples, extended summary
OPTIONAL = {"SA01", "EX01", "ES01"}
PUBLIC_MODULES = ["cymlp.model_io", "cymlp.datasets", "cymlp.config", "cymlp.onnx",
                  "cymlp.tables", "cymlp.model_selection"]


def _public_names():
    names = []
    for name in cymlp.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(cymlp, name)
        names.append("%s.%s" % (obj.__module__, name))
        if inspect.isclass(obj):
            for attr in dir(obj):
                value = inspect.getattr_static(obj, attr)
                function = value.fget if isinstance(value, property) else value
                function = getattr(function, "__func__", function)
                # methods and properties cymlp defines (inherited ones included), not
                # those of scikit-learn's base classes
                if (not attr.startswith("_") and callable(function)
                        and getattr(function, "__module__", "").startswith("cymlp")):
                    names.append("%s.%s.%s" % (obj.__module__, name, attr))
    for module_name in PUBLIC_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:   # cymlp.onnx without its extra
            continue
        for attr, value in vars(module).items():
            if (not attr.startswith("_") and callable(value)
                    and getattr(value, "__module__", None) == module_name):
                names.append("%s.%s" % (module_name, attr))
    return sorted(set(names))


NAMES = _public_names()


def test_the_public_api_is_found():
    for expected in ("cymlp.estimators.MLPClassifier.fit", "cymlp.network.Network.backward",
                     "cymlp.model_io.load", "cymlp.datasets.load_fashion_mnist",
                     "cymlp.optimizers.AdamW"):
        assert expected in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_docstring_is_complete(name):
    errors = [(code, message) for code, message in validate(name)["errors"]
              if code not in OPTIONAL]
    assert not errors, "\n".join("%s %s" % error for error in errors)
