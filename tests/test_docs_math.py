"""The math page of the documentation (docs/math.rst) runs as a doctest: every number
it shows is ``Network``'s own, and its finite-difference checks pass."""
import doctest
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "math.rst"


@pytest.mark.skipif(not PAGE.exists(), reason="needs the source tree's docs/")
def test_math_page_examples_run():
    result = doctest.testfile(str(PAGE), module_relative=False,
                              optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 20 and result.failed == 0
