"""The package is typed (PEP 561: py.typed, stubs for the compiled modules) and mypy
passes on src/cymlp with the project's configuration (pyproject.toml [tool.mypy])."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_ships_its_types():
    import cymlp
    package = Path(cymlp.__file__).parent
    assert (package / "py.typed").exists()
    for module in ("_engine", "_checks", "_pool", "_blas", "_kernels"):
        assert (package / (module + ".pyi")).exists(), module


@pytest.mark.skipif(not (ROOT / "src" / "cymlp").is_dir(), reason="needs the source tree")
def test_mypy_passes_on_the_sources():
    api = pytest.importorskip("mypy.api")
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"),
                                      "--cache-dir", "/dev/null",
                                      str(ROOT / "src" / "cymlp")])
    assert status == 0, stdout + stderr
