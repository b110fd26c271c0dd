"""The implementations compared: cymlp, scikit-learn, PyTorch, plain NumPy, the GEMM floor.

Each peer trains 784-H1-H2-10 (logistic hidden layers, softmax output, cross-entropy,
Adam with lr 1e-3, no L2 penalty) with shuffled mini-batches, and predicts.  A peer is
a class with ``setup(X, y, dtype, batch_size)``, ``epoch()`` and ``predict(X)``;
``available()`` says whether its package is installed.
"""
import numpy as np

SIZES = (784, 200, 100, 10)
LEARNING_RATE = 1e-3


class Peer:
    """What every peer has: a name, and whether its package is installed."""

    name = None

    @staticmethod
    def available():
        return True


class CymlpNetwork(Peer):
    """cymlp's low-level Network: the compiled epoch loop."""

    name = "cymlp (Network)"

    def setup(self, X, y, dtype, batch_size):
        import cymlp

        self.net = cymlp.Network(list(SIZES), activation="logistic", dtype=dtype,
                                 random_state=0)
        Y = np.eye(10, dtype=dtype)[y]
        self.X, self.Y, _ = self.net.check_xy(X, Y)
        self.opt = cymlp.Adam(LEARNING_RATE)
        self.batch_size = batch_size
        self.rng = np.random.RandomState(0)

    def epoch(self):
        order = self.rng.permutation(self.X.shape[0])
        self.net.train_epoch(self.X, self.Y, self.opt, self.batch_size, order, checked=True)

    def predict(self, X):
        return self.net.forward(X).argmax(axis=1)


class CymlpEstimator(Peer):
    """cymlp.MLPClassifier: one epoch per partial_fit, as a user would call it."""

    name = "cymlp (MLPClassifier)"

    def setup(self, X, y, dtype, batch_size):
        import cymlp

        self.clf = cymlp.MLPClassifier(SIZES[1:-1], activation="logistic", alpha=0.0,
                                       batch_size=batch_size, learning_rate_init=LEARNING_RATE,
                                       random_state=np.random.RandomState(0))
        self.X, self.y = np.ascontiguousarray(X, dtype=dtype), y
        self.clf.partial_fit(self.X[:batch_size], y[:batch_size], classes=np.arange(10))

    def epoch(self):
        self.clf.partial_fit(self.X, self.y)

    def predict(self, X):
        return self.clf.predict(X)


class Sklearn(CymlpEstimator):
    """scikit-learn's MLPClassifier, one epoch per partial_fit."""

    name = "scikit-learn"

    def setup(self, X, y, dtype, batch_size):
        from sklearn.neural_network import MLPClassifier

        self.clf = MLPClassifier(SIZES[1:-1], activation="logistic", alpha=0.0,
                                 batch_size=batch_size, learning_rate_init=LEARNING_RATE,
                                 random_state=np.random.RandomState(0))
        self.X, self.y = np.ascontiguousarray(X, dtype=dtype), y
        self.clf.partial_fit(self.X[:batch_size], y[:batch_size], classes=np.arange(10))


class Torch(Peer):
    """PyTorch CPU: nn.Sequential, CrossEntropyLoss, torch.optim.Adam."""

    name = "PyTorch"

    @staticmethod
    def available():
        try:
            import torch  # noqa: F401
        except ImportError:
            return False
        return True

    def setup(self, X, y, dtype, batch_size):
        import torch

        torch.manual_seed(0)
        torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
        layers = []
        for k, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
            layers.append(torch.nn.Linear(a, b))
            if k < len(SIZES) - 2:
                layers.append(torch.nn.Sigmoid())
        self.model = torch.nn.Sequential(*layers).to(torch_dtype)
        self.loss = torch.nn.CrossEntropyLoss()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LEARNING_RATE)
        self.X = torch.from_numpy(np.ascontiguousarray(X, dtype=dtype))
        self.y = torch.from_numpy(y.astype(np.int64))
        self.batch_size = batch_size
        self.torch = torch

    def epoch(self):
        perm = self.torch.randperm(self.X.shape[0])
        for start in range(0, self.X.shape[0], self.batch_size):
            idx = perm[start:start + self.batch_size]
            self.opt.zero_grad(set_to_none=True)
            self.loss(self.model(self.X[idx]), self.y[idx]).backward()
            self.opt.step()

    def predict(self, X):
        with self.torch.no_grad():
            return self.model(self.torch.from_numpy(X)).argmax(dim=1).numpy()


class NumpyEquations(Peer):
    """The same equations in plain NumPy (matmul, exp), Adam in place."""

    name = "NumPy equations"

    def setup(self, X, y, dtype, batch_size):
        rng = np.random.RandomState(0)
        self.W = [rng.uniform(-b, b, (m, n)).astype(dtype) for m, n, b in
                  ((m, n, np.sqrt(2 / (m + n))) for m, n in zip(SIZES[:-1], SIZES[1:]))]
        self.b = [np.zeros(n, dtype=dtype) for n in SIZES[1:]]
        self.params = self.W + self.b
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.X = np.ascontiguousarray(X, dtype=dtype)
        self.Y = np.eye(10, dtype=dtype)[y]
        self.batch_size = batch_size
        self.rng = rng

    def _forward(self, X):
        outs = [X]
        for k, (W, b) in enumerate(zip(self.W, self.b)):
            u = outs[-1] @ W + b
            if k < len(self.W) - 1:
                outs.append(1 / (1 + np.exp(-u)))
            else:
                u -= u.max(axis=1, keepdims=True)
                e = np.exp(u)
                outs.append(e / e.sum(axis=1, keepdims=True))
        return outs

    def epoch(self):
        order = self.rng.permutation(self.X.shape[0])
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            outs = self._forward(self.X[idx])
            delta = (outs[-1] - self.Y[idx]) / len(idx)
            grads_W, grads_b = [None] * 3, [None] * 3
            for k in range(len(self.W) - 1, -1, -1):
                grads_W[k] = outs[k].T @ delta
                grads_b[k] = delta.sum(axis=0)
                if k:
                    delta = (delta @ self.W[k].T) * outs[k] * (1 - outs[k])
            self.t += 1
            lr = LEARNING_RATE * np.sqrt(1 - 0.999 ** self.t) / (1 - 0.9 ** self.t)
            for p, g, m, v in zip(self.params, grads_W + grads_b, self.m, self.v):
                m *= 0.9
                m += 0.1 * g
                v *= 0.999
                v += 0.001 * g * g
                p -= lr * m / (np.sqrt(v) + 1e-8)

    def predict(self, X):
        return self._forward(X)[-1].argmax(axis=1)


class GemmFloor(Peer):
    """Only the matrix products of an epoch, back to back on preallocated arrays, through
    the same BLAS (SciPy's OpenBLAS via cython_blas) cymlp calls: forward O_{k-1} W_k,
    weight gradients O_{k-1}^T Delta_k, and Delta_k W_k^T for every layer but the first."""

    name = "GEMM floor (cython_blas)"

    def setup(self, X, y, dtype, batch_size):
        from cymlp._blas import gemm_memview

        self.gemm = gemm_memview
        self.n = X.shape[0]
        self.batch_size = batch_size
        rng = np.random.default_rng(0)
        self.W = [rng.random((m, n)).astype(dtype) for m, n in zip(SIZES[:-1], SIZES[1:])]
        self.G = [np.zeros_like(W) for W in self.W]
        self.blocks = {}
        for rows in {batch_size, self.n % batch_size} - {0}:
            self.blocks[rows] = ([rng.random((rows, s)).astype(dtype) for s in SIZES],
                                 [rng.random((rows, s)).astype(dtype) for s in SIZES])

    def epoch(self):
        gemm, W, G = self.gemm, self.W, self.G
        for start in range(0, self.n, self.batch_size):
            O, D = self.blocks[min(self.batch_size, self.n - start)]
            for k in range(3):
                gemm(False, False, 1.0, O[k], W[k], 0.0, O[k + 1])
            for k in range(2, -1, -1):
                gemm(True, False, 1.0, O[k], D[k + 1], 1.0, G[k])
                if k:
                    gemm(False, True, 1.0, D[k + 1], W[k], 0.0, D[k])

    predict = None


class NumpyGemmFloor(GemmFloor):
    """The GEMM floor through numpy.matmul (NumPy's own OpenBLAS)."""

    name = "GEMM floor (numpy.matmul)"

    def epoch(self):
        W, G = self.W, self.G
        for start in range(0, self.n, self.batch_size):
            O, D = self.blocks[min(self.batch_size, self.n - start)]
            for k in range(3):
                np.matmul(O[k], W[k], out=O[k + 1])
            for k in range(2, -1, -1):
                np.matmul(O[k].T, D[k + 1], out=G[k])
                if k:
                    np.matmul(D[k + 1], W[k].T, out=D[k])


class SplitGemmFloor(Peer):
    """The GEMM floor of cymlp's data-parallel epoch: the batch is split into as many
    row chunks as cymlp would use (``cymlp._threads``), and each chunk's products run
    on their own thread with single-threaded BLAS, through cython_blas.  The threads
    never wait for each other (cymlp synchronises twice per batch), so this is a
    floor for the split scheme, below which cymlp cannot go.  A batch too small for row
    chunks (cymlp splits it by columns) gets the plain floor, BLAS threading it."""

    name = "GEMM floor, split (cython_blas)"

    def setup(self, X, y, dtype, batch_size):
        from cymlp._threads import blas_threads, chunks_for_batch

        n_chunks = chunks_for_batch(blas_threads(), batch_size)
        self.parts = []
        for c in range(n_chunks):
            rows = batch_size * (c + 1) // n_chunks - batch_size * c // n_chunks
            part = GemmFloor()
            # this chunk's share of every batch: as many blocks as the epoch has batches
            part.setup(X[:rows * (X.shape[0] // batch_size)], y, dtype, rows)
            self.parts.append(part)

    def epoch(self):
        import threading

        from threadpoolctl import threadpool_limits

        if len(self.parts) == 1:
            # no split (batch below 64 rows, or one thread): BLAS threads as it is set
            self.parts[0].epoch()
            return
        with threadpool_limits(1):
            threads = [threading.Thread(target=part.epoch) for part in self.parts]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    predict = None


TRAINING_PEERS = [CymlpNetwork, CymlpEstimator, Sklearn, Torch, NumpyEquations, GemmFloor,
                  NumpyGemmFloor, SplitGemmFloor]
PREDICTING_PEERS = [CymlpNetwork, CymlpEstimator, Sklearn, Torch, NumpyEquations]
