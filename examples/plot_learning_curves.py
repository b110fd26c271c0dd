"""
Learning and validation curves
==============================

``loss_curve_`` is the training loss after every epoch; with a validation set
(``fit(..., X_val=, y_val=)``, or early stopping's split) the estimator also records
``validation_scores_`` and ``validation_loss_curve_``, the same loss on the validation
data.  Here: 784-128-10 on 12,000 Fashion-MNIST images, 3,000 others for validation.
"""
import matplotlib.pyplot as plt

import cymlp
from cymlp.datasets import load_fashion_mnist

data = load_fashion_mnist()
X, y = data.X_train, data.y_train
clf = cymlp.MLPClassifier((128,), batch_size=128, max_iter=15, tol=0.0, random_state=0)
clf.fit(X[:12000], y[:12000], X_val=X[12000:15000], y_val=y[12000:15000])

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
epochs = range(1, clf.n_iter_ + 1)
left.plot(epochs, clf.loss_curve_, label="training")
left.plot(epochs, clf.validation_loss_curve_, label="validation")
left.set_xlabel("epoch")
left.set_ylabel("log loss")
left.legend()
right.plot(epochs, clf.validation_scores_, color="tab:green")
right.set_xlabel("epoch")
right.set_ylabel("validation accuracy")
fig.tight_layout()
print("test accuracy: %.4f" % clf.score(data.X_test, data.y_test))
