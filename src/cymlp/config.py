"""What this cymlp installation is built and running with."""
import os
import platform
import sys
from typing import Any, Optional, TextIO

from cymlp._threads import MIN_CHUNK_ROWS

def config_info() -> dict[str, Any]:
    """Return cymlp's build and run-time configuration.

    Returns
    -------
    dict
        ``version``, ``python``, ``platform``, ``numpy``, ``scipy``, ``compile_flags``
        and ``blas``: the BLAS libraries loaded (library file, implementation, version,
        threads), scipy's being the one cymlp calls; ``training_threads``: the threads
        a training loop started now would use (``cymlp._threads``).
    """
    import numpy
    import scipy
    from threadpoolctl import threadpool_info

    from cymlp._blas import compile_flags
    from cymlp._threads import blas_threads
    from cymlp._version import __version__

    # cymlp calls scipy's BLAS: the library shipped inside scipy's install (wheels put it
    # in scipy.libs or scipy/.dylibs); with a system BLAS shared by numpy and scipy
    # (conda, distributions) no library is there and every loaded one may be it
    scipy_root = os.path.dirname(os.path.dirname(os.path.abspath(scipy.__file__)))
    scipy_dirs = tuple(os.path.join(scipy_root, d) for d in ("scipy", "scipy.libs"))
    libraries = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    inside = [os.path.abspath(info["filepath"]).startswith(scipy_dirs) for info in libraries]
    blas = [dict(library=info["filepath"], implementation=info.get("internal_api"),
                 version=info.get("version"), threads=info.get("num_threads"),
                 used_by_cymlp=used or not any(inside))
            for info, used in zip(libraries, inside)]
    return dict(version=__version__, python=sys.version.split()[0],
                platform=platform.platform(), numpy=numpy.__version__,
                scipy=scipy.__version__, compile_flags=compile_flags(), blas=blas,
                training_threads=blas_threads())


def show_config(file: Optional[TextIO] = None) -> None:
    """Print cymlp's version, BLAS library and threads, numpy/scipy versions, flags.

    Parameters
    ----------
    file : file-like, optional
        Where to print (default ``sys.stdout``).
    """
    info = config_info()
    out = file or sys.stdout
    print("cymlp %s (Python %s, %s)" % (info["version"], info["python"], info["platform"]),
          file=out)
    print("numpy %s, scipy %s" % (info["numpy"], info["scipy"]), file=out)
    print("compile flags: %s" % info["compile_flags"], file=out)
    for lib in info["blas"]:
        print("BLAS%s: %s %s, %s threads, %s" % (
            " (used by cymlp, through scipy.linalg.cython_blas)" if lib["used_by_cymlp"]
            else "", lib["implementation"], lib["version"], lib["threads"], lib["library"]),
            file=out)
    print("training threads: %d (batches of at least %d rows are split into that many "
          "row chunks, smaller ones by columns if the network is large enough)"
          % (info["training_threads"], MIN_CHUNK_ROWS * info["training_threads"]), file=out)
