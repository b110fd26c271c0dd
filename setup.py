"""Build of cymlp's compiled modules (metadata is in pyproject.toml).

Flags are portable by default (no -march=native): the same build goes into wheels.
A source build for this machine only may opt in with ``CYMLP_NATIVE=1``.
``CYMLP_SANITIZE=address`` builds with AddressSanitizer for the memory-safety tests.
"""
import os
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# -fno-math-errno and -fno-trapping-math let gcc vectorise sqrt and the branch-free
# clamps of fastexp.h; they change no result (NaN and inf behave as before)
GCC_FLAGS = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wextra",
             "-Wno-unused-function", "-Wno-unused-parameter", "-Wno-sign-compare"]
MSVC_FLAGS = ["/O2", "/W3"]
MODULES = ["_blas", "_kernels", "_checks", "_pool", "_engine"]


def gcc_flags():
    """Return the gcc/clang flags, with the opt-in native and sanitizer flags."""
    flags = list(GCC_FLAGS)
    if os.environ.get("CYMLP_NATIVE") == "1":
        flags.append("-march=native")
    sanitize = os.environ.get("CYMLP_SANITIZE")
    if sanitize:
        flags += ["-fsanitize=" + sanitize, "-fno-omit-frame-pointer", "-g"]
    else:
        flags.append("-g0")  # no debug info in distributed binaries (1.6 MB -> 0.8 MB)
    return flags


class BuildExt(build_ext):
    """Sets the compile flags per compiler and records them in the modules."""

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        flags = MSVC_FLAGS if msvc else gcc_flags()
        link = [] if msvc else [f for f in flags if f.startswith("-fsanitize")]
        for ext in self.extensions:
            ext.extra_compile_args = flags
            ext.extra_link_args = link
            ext.define_macros.append(("CYMLP_CFLAGS", '"%s"' % " ".join(flags)))
        super().build_extensions()


def extension(name):
    """Return the Extension for src/cymlp/<name>.pyx."""
    return Extension(
        "cymlp." + name,
        ["src/cymlp/%s.pyx" % name],
        include_dirs=["include", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        libraries=[] if sys.platform == "win32" else ["m"],
    )


setup(
    ext_modules=cythonize(
        [extension(name) for name in MODULES],
        compiler_directives={"language_level": 3},
    ),
    cmdclass={"build_ext": BuildExt},
)
