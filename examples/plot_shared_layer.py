"""
A network that uses one layer twice
===================================

``Network`` takes ``Dense`` objects; passing the same one twice shares its weights:
``O_2 = f(f(X W_1 + b_1) W + b)``, ``O_3 = f(O_2 W + b)``.  The shared layer's gradient
is the sum of its gradients at both uses (checked here against finite differences), and
``train_epoch`` trains it like any network.
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import cymlp

X, y = load_digits(return_X_y=True)
X = X / 16.0
Y = np.eye(10)[y]
shared = cymlp.Dense(32, 32)
net = cymlp.Network([cymlp.Dense(64, 32), shared, shared, cymlp.Dense(32, 10)],
                    activation="tanh", random_state=0)
print("unique layers:", len(net.coefs), "steps:", net.n_steps)

# the shared layer's gradient against central differences, on one of its weights
loss, coef_grads, _ = net.backward(X[:50], Y[:50])
W = net.coefs[1]
h = 1e-6
W[3, 4] += h
plus = net.loss(X[:50], Y[:50])
W[3, 4] -= 2 * h
minus = net.loss(X[:50], Y[:50])
W[3, 4] += h
print("analytic %.10f, finite difference %.10f" % (coef_grads[1][3, 4],
                                                 (plus - minus) / (2 * h)))

optimizer = cymlp.Adam(learning_rate=0.01)
losses = [net.train_epoch(X, Y, optimizer, batch_size=64,
                          order=np.random.default_rng(e).permutation(len(X))).loss
          for e in range(30)]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(range(1, 31), losses)
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_title("64-32-(32 shared)x2-10 on the digits")
fig.tight_layout()
print("training accuracy: %.3f" % (net.forward(X).argmax(1) == y).mean())
