"""The one source of cymlp's version (read by pyproject.toml and cymlp.__version__)."""
__version__ = "0.1.0"
