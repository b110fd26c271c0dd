"""
A confusion matrix on Fashion-MNIST
===================================

The 784-200-100-10 network of the main job, trained for 5 epochs on 20,000 images, and
the confusion matrix of its predictions on the 10,000 test images: shirts, T-shirts,
pullovers and coats are the classes it confuses.
"""
import matplotlib.pyplot as plt
from sklearn.metrics import ConfusionMatrixDisplay

import cymlp
from cymlp.datasets import load_fashion_mnist

CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot"]

data = load_fashion_mnist()
clf = cymlp.MLPClassifier((200, 100), activation="logistic", batch_size=128, max_iter=5,
                          tol=0.0, random_state=0)
clf.fit(data.X_train[:20000], data.y_train[:20000])
predicted = clf.predict(data.X_test)

fig, ax = plt.subplots(figsize=(7, 6))
ConfusionMatrixDisplay.from_predictions(data.y_test, predicted, display_labels=CLASSES,
                                        xticks_rotation=45, colorbar=False, ax=ax)
fig.tight_layout()
print("test accuracy: %.4f" % (predicted == data.y_test).mean())
