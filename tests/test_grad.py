"""Every gradient against central finite differences in float64, and the seed's examples."""
import numpy as np
import pytest

import cymlp
from cymlp._names import ACTIVATION_CODES

ACTIVATIONS = sorted(ACTIVATION_CODES)
OUTPUTS = ["softmax", "logistic", "identity", "exp"]


def targets(output, n, k, rng):
    """Targets of the kind each output takes: one-hot, 0/1 indicators, real values."""
    if output == "softmax":
        return np.eye(k)[rng.integers(0, k, n)]
    if output == "logistic":
        return (rng.random((n, k)) < 0.5).astype(float)
    if output == "exp":
        return rng.poisson(2.0, size=(n, k)).astype(float)
    return rng.normal(size=(n, k))


def numeric_gradient(net, X, Y, weights=None, alpha=0.0, h=1e-6, **loss_options):
    """Central differences of net.loss over every parameter (``loss_options``: e.g. a
    fixed dropout mask)."""
    start = net.params.copy()
    grad = np.empty_like(start)
    for i in range(start.size):
        step = np.zeros_like(start)
        step[i] = h
        net.params = start + step
        plus = net.loss(X, Y, weights, alpha, **loss_options)
        net.params = start - step
        minus = net.loss(X, Y, weights, alpha, **loss_options)
        grad[i] = (plus - minus) / (2 * h)
    net.params = start
    return grad


def analytic_gradient(net, X, Y, weights=None, alpha=0.0):
    loss, coef_grads, intercept_grads = net.backward(X, Y, weights, alpha)
    assert loss == pytest.approx(net.loss(X, Y, weights, alpha), rel=1e-12)
    return np.concatenate([g.ravel() for g in coef_grads + intercept_grads])


def assert_gradient_matches(net, X, Y, weights=None, alpha=0.0):
    expected = numeric_gradient(net, X, Y, weights, alpha)
    got = analytic_gradient(net, X, Y, weights, alpha)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("output", OUTPUTS)
def test_gradient_every_activation_and_loss(activation, output):
    rng = np.random.default_rng(0)
    net = cymlp.Network([5, 7, 6, 3], activation=activation, output=output, random_state=1)
    X = rng.normal(size=(11, 5))
    assert_gradient_matches(net, X, targets(output, 11, 3, rng))


@pytest.mark.parametrize("output", OUTPUTS)
def test_gradient_with_l2_penalty_and_sample_weights(output):
    rng = np.random.default_rng(1)
    net = cymlp.Network([4, 6, 2], activation="tanh", output=output, random_state=2)
    X = rng.normal(size=(9, 4))
    weights = rng.uniform(0.1, 3.0, size=9)
    assert_gradient_matches(net, X, targets(output, 9, 2, rng), weights, alpha=0.3)


def test_l2_penalty_value_and_gradient_are_on_coefficients_only():
    rng = np.random.default_rng(2)
    net = cymlp.Network([3, 4, 2], activation="relu", output="identity", random_state=0)
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    base, coef0, icpt0 = net.backward(X, Y)
    loss, coef1, icpt1 = net.backward(X, Y, alpha=0.5)
    squares = sum((W ** 2).sum() for W in net.coefs)
    assert loss == pytest.approx(base + 0.5 * 0.5 * squares / 6, rel=1e-12)
    for W, g0, g1 in zip(net.coefs, coef0, coef1):
        np.testing.assert_allclose(g1 - g0, 0.5 * W / 6, rtol=1e-10, atol=1e-15)
    for g0, g1 in zip(icpt0, icpt1):
        np.testing.assert_array_equal(g0, g1)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_of_a_shared_layer_is_the_sum_over_its_uses(activation):
    rng = np.random.default_rng(3)
    inner, shared, head = cymlp.Dense(4, 5), cymlp.Dense(5, 5), cymlp.Dense(5, 3)
    net = cymlp.Network([inner, shared, shared, head], activation=activation,
                        output="softmax", random_state=4)
    assert len(net.coefs) == 3 and net.n_steps == 4
    X = rng.normal(size=(8, 4))
    assert_gradient_matches(net, X, targets("softmax", 8, 3, rng), alpha=0.1)


def test_seed_nested_network_with_reused_weights():
    """math-of-nn.md section 3: z1 = W x + b, z2 = W z1 + b, L = 1/2 |z2 - y|^2.

    The corrected result: dL/dW = d2 z1^T + d1 x^T, dL/db = d2 + d1, d1 = W^T d2
    (the note's d2 z2 is a slip).  The notes use column vectors; the network's
    coefficient is the transpose, W_net = W^T, so its gradient is (dL/dW)^T.
    """
    x = np.array([1.0, 2.0])
    W = np.array([[0.5, -1.0], [0.25, 0.75]])
    b = np.array([0.1, -0.2])
    y = np.array([1.0, 0.0])
    layer = cymlp.Dense(2, 2)
    net = cymlp.Network([layer, layer], activation="identity", output="identity")
    net.coefs = [W.T]
    net.intercepts = [b]

    np.testing.assert_allclose(net.forward(x[None]), [[-2.15, 0.6125]], rtol=1e-14)
    loss, (dW_net,), (db,) = net.backward(x[None], y[None])
    assert loss == pytest.approx(5.148828125, rel=1e-14)
    expected_dW = np.array([[2.988125, -7.72625], [2.751875, 8.168125]])
    np.testing.assert_allclose(dW_net.T, expected_dW, rtol=1e-14)
    np.testing.assert_allclose(db, [-4.571875, 4.221875], rtol=1e-14)

    z1 = W @ x + b
    z2 = W @ z1 + b
    d2 = z2 - y
    d1 = W.T @ d2
    np.testing.assert_allclose(dW_net.T, np.outer(d2, z1) + np.outer(d1, x), rtol=1e-14)
    assert not np.allclose(dW_net.T, np.outer(d2, z2) + np.outer(d1, x))


def test_seed_784_200_100_10_equations():
    """gradient-computation-784-200-100-10.md, batched: the output error is O - Y
    (not the note's Y - O), and each layer follows dW_k = O_{k-1}^T Delta_k,
    Delta_{k-1} = (Delta_k W_k^T) * sigma'(U_{k-1})."""
    rng = np.random.default_rng(5)
    net = cymlp.Network([784, 200, 100, 10], activation="logistic", random_state=0)
    X = rng.random((16, 784))
    Y = np.eye(10)[rng.integers(0, 10, 16)]
    _, coef_grads, intercept_grads = net.backward(X, Y)

    sigmoid = lambda u: 1 / (1 + np.exp(-u))
    (W1, W2, W3), (b1, b2, b3) = net.coefs, net.intercepts
    O1 = sigmoid(X @ W1 + b1)
    O2 = sigmoid(O1 @ W2 + b2)
    U3 = O2 @ W3 + b3
    O3 = np.exp(U3 - U3.max(1, keepdims=True))
    O3 /= O3.sum(1, keepdims=True)
    D3 = (O3 - Y) / 16
    D2 = (D3 @ W3.T) * O2 * (1 - O2)
    D1 = (D2 @ W2.T) * O1 * (1 - O1)
    for got, expected in zip(coef_grads, [X.T @ D1, O1.T @ D2, O2.T @ D3]):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)
    for got, expected in zip(intercept_grads, [D1.sum(0), D2.sum(0), D3.sum(0)]):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-3), (np.float64, 1e-10)])
def test_float32_gradient_agrees_with_float64(dtype, rtol):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(32, 10))
    Y = np.eye(4)[rng.integers(0, 4, 32)]
    ref = cymlp.Network([10, 16, 4], activation="tanh", random_state=0)
    net = cymlp.Network([10, 16, 4], activation="tanh", dtype=dtype, random_state=0)
    net.params = ref.params
    expected = analytic_gradient(ref, X, Y)
    got = analytic_gradient(net, X, Y)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_with_sparse_input(activation):
    # the CSR path of the first layer (issue 15), with weights and the L2 term
    import scipy.sparse as sp
    rng = np.random.default_rng(0)
    X = sp.random(30, 12, density=0.2, format="csr", random_state=0)
    net = cymlp.Network([12, 6, 3], activation=activation, output="softmax", random_state=0)
    assert_gradient_matches(net, X, targets("softmax", 30, 3, rng), rng.uniform(0.5, 2, 30),
                            alpha=0.1)
