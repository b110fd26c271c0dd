"""Sphinx configuration of cymlp's documentation site.

Build it with ``bash scripts/build_docs.sh`` (warnings are errors); the pages are in
this folder, the API reference is generated from the docstrings (numpydoc,
autosummary), the example gallery from ../examples/plot_*.py (sphinx-gallery, each
script run during the build)."""
from pathlib import Path

import cymlp

ROOT = Path(__file__).resolve().parent.parent

project = "cymlp"
author = "the cymlp developers"
copyright = "2026, the cymlp developers"
release = version = cymlp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json"]
myst_heading_anchors = 3


templates_path = ["_templates"]
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

intersphinx_mapping = {}

html_theme = "pydata_sphinx_theme"
html_title = "cymlp %s" % version
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = []

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"dropout_curves\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
}
