"""Fit the Chebyshev series of include/cymlp/fastspecial.h's erf and print them as C.

    python scripts/fit_erf.py > /tmp/coef.h     # needs mpmath (pip install mpmath)

Near piece: erf(x) / x as a function of s = x^2 on [0, 1] (|x| <= 1), degree 12.
Middle piece: x exp(x^2) erfc(x) on [1, 2], degree 14.
Far piece: x exp(x^2) erfc(x) as a function of t = 1/x^2 on [0, 1/4] (2 <= x), degree
22.  Least squares at 200 Chebyshev nodes against mpmath at 40 digits; prints
the largest relative error at 500 other points of each piece.
"""
import sys

import mpmath as mp
import numpy as np
from numpy.polynomial import chebyshev as C

mp.mp.dps = 40


def near(s):
    x = mp.sqrt(s)
    return mp.erf(x) / x if x != 0 else 2 / mp.sqrt(mp.pi)


def middle(x):
    return x * mp.exp(x * x) * mp.erfc(x)


def far(t):
    if t == 0:   # the limit x -> infinity
        return 1 / mp.sqrt(mp.pi)
    x = 1 / mp.sqrt(t)
    return x * mp.exp(x * x) * mp.erfc(x)


def fit(f, a, b, degree, nodes=200):
    y = np.cos(np.pi * (np.arange(nodes) + 0.5) / nodes)
    values = np.array([float(f(mp.mpf((a + b) / 2 + (b - a) / 2 * v))) for v in y])
    coef = C.chebfit(y, values, degree)
    check = np.linspace(-1, 1, 500)
    exact = np.array([float(f(mp.mpf((a + b) / 2 + (b - a) / 2 * v))) for v in check])
    error = np.abs(C.chebval(check, coef) - exact).max() / np.abs(exact).min()
    return coef, error


def main():
    for name, f, a, b, degree in (("CYMLP_ERF_NEAR", near, 0.0, 1.0, 12),
                                  ("CYMLP_ERFC_MIDDLE", middle, 1.0, 2.0, 14),
                                  ("CYMLP_ERFC_FAR", far, 0.0, 1 / 4, 22)):
        coef, error = fit(f, a, b, degree)
        print("/* %s: largest relative error %.2g */" % (name, error), file=sys.stderr)
        print("static const double %s[%d] = {\n%s\n};" % (
            name, len(coef), ",\n".join("    %.17g" % c for c in coef)))


if __name__ == "__main__":
    main()
