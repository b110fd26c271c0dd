"""Multi-output classification targets: k label columns, each with its own classes.

``LabelColumns`` is to a (n, k) label array what scikit-learn's ``LabelBinarizer`` is
to one label column: it encodes each column as a one-hot block, the blocks side by side
(the targets of one softmax group each, ``Network(softmax_groups=...)``), and decodes
the network's output back to labels.  ``MLPClassifier`` uses it where scikit-learn's
binarizer raises "Multioutput target data is not supported with label binarization".
"""
import numbers

import numpy as np
from sklearn.utils.multiclass import unique_labels


class LabelColumns:
    """The classes of each label column, and the encoding to one-hot blocks.

    Parameters
    ----------
    classes : sequence of array-like
        The classes of each column (sorted and made unique here).

    Attributes
    ----------
    classes_ : list of ndarray
        The sorted classes of each column.
    y_type_ : str
        ``'multiclass-multioutput'`` (the name ``type_of_target`` gives these targets).
    """

    y_type_ = "multiclass-multioutput"

    def __init__(self, classes):
        self.classes_ = [_column_classes(column, j) for j, column in enumerate(classes)]
        if len(self.classes_) < 2:
            raise ValueError("multi-output targets need at least 2 label columns, got %d"
                             % len(self.classes_))

    @classmethod
    def fit(cls, y):
        """The label columns of ``y``, with the classes each column holds.

        Parameters
        ----------
        y : array-like of shape (n_samples, n_columns)

        Returns
        -------
        LabelColumns
        """
        y = _as_columns(y, None)
        return cls([y[:, j] for j in range(y.shape[1])])

    @property
    def group_sizes(self):
        """The number of classes of each column: the softmax group sizes."""
        return [len(classes) for classes in self.classes_]

    def transform(self, y):
        """One-hot blocks, one per column, side by side.

        Parameters
        ----------
        y : array-like of shape (n_samples, n_columns)
            Labels of the fitted classes.

        Returns
        -------
        ndarray of shape (n_samples, sum(group_sizes))
            0/1 integers.

        Raises
        ------
        ValueError
            For a wrong number of columns, or a label not among its column's classes.
        """
        y = _as_columns(y, len(self.classes_))
        blocks = []
        for j, classes in enumerate(self.classes_):
            column = y[:, j]
            index = np.searchsorted(classes, column)
            index[index == len(classes)] = 0
            unseen = classes[index] != column
            if unseen.any():
                raise ValueError("y column %d has labels not in classes_[%d] (%s): %s"
                                 % (j, j, _short(classes), _short(np.unique(column[unseen]))))
            block = np.zeros((y.shape[0], len(classes)), dtype=np.int64)
            block[np.arange(y.shape[0]), index] = 1
            blocks.append(block)
        return np.hstack(blocks)

    def split(self, output):
        """The network's output as one (n_samples, n_classes_j) array per column.

        Parameters
        ----------
        output : ndarray of shape (n_samples, sum(group_sizes))

        Returns
        -------
        list of ndarray
        """
        ends = np.cumsum(self.group_sizes)
        return [np.ascontiguousarray(part) for part in np.split(output, ends[:-1], axis=1)]

    def inverse_transform(self, output):
        """Each column's most probable class.

        Parameters
        ----------
        output : ndarray of shape (n_samples, sum(group_sizes))
            Scores or probabilities, block by block.

        Returns
        -------
        ndarray of shape (n_samples, n_columns)
            The labels; of the columns' common dtype, or object when their classes are
            of different kinds (numbers in one column, text in another).
        """
        parts = self.split(output)
        kinds = {classes.dtype.kind for classes in self.classes_}
        dtype = (np.result_type(*self.classes_) if len(kinds) == 1 or kinds <= set("biuf")
                 else object)
        labels = np.empty((output.shape[0], len(parts)), dtype=dtype)
        for j, (classes, part) in enumerate(zip(self.classes_, parts)):
            labels[:, j] = classes[part.argmax(axis=1)]
        return labels

    def same_classes(self, classes):
        """Whether ``classes`` (one array-like per column) are the fitted classes."""
        if len(classes) != len(self.classes_):
            return False
        return all(np.array_equal(mine, unique_labels(np.asarray(theirs)))
                   for mine, theirs in zip(self.classes_, classes))


def is_label_columns_target(y):
    """Whether ``y`` holds label columns: 2-D with at least 2 columns, not a 0/1
    multilabel indicator and not continuous (scikit-learn's 'multiclass-multioutput',
    also for object arrays mixing text and number columns, where ``type_of_target``
    fails).

    Parameters
    ----------
    y : ndarray

    Returns
    -------
    bool
    """
    if y.ndim != 2 or y.shape[1] < 2:
        return False
    if y.dtype.kind == "b":
        return False
    if y.dtype.kind in "iuf":
        return bool(np.all(y == np.round(y)) and not np.isin(y, (0, 1)).all())
    numbers = np.frompyfunc(lambda v: isinstance(v, (int, float, np.number))
                            and not isinstance(v, bool), 1, 1)(y).astype(bool)
    return not (numbers.all() and np.isin(y, (0, 1)).all())


def is_label_columns(classes):
    """Whether a ``classes`` argument lists classes per column (multi-output)."""
    return (isinstance(classes, (list, tuple)) and len(classes) > 0
            and all(np.ndim(column) == 1 for column in classes))


def _column_classes(column, j):
    """The sorted distinct labels of one column: numbers, or text (an object column
    holding only one of the two is converted to it)."""
    values = np.asarray(column)
    if values.ndim != 1:
        raise ValueError("the classes of label column %d must be 1-D" % j)
    if values.dtype == object:
        if all(isinstance(v, str) for v in values):
            values = values.astype(str)
        elif all(isinstance(v, (numbers.Real, np.bool_)) for v in values):
            values = np.asarray(values.tolist())
        else:
            raise ValueError("label column %d mixes text and numbers (or holds other "
                             "objects); each column's labels must be one or the other" % j)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError("label column %d holds NaN or infinity" % j)
    return unique_labels(values) if values.dtype.kind in "biuf" else np.unique(values)


def _as_columns(y, n_columns):
    y = np.asarray(y)
    if y.ndim != 2 or (n_columns is not None and y.shape[1] != n_columns):
        raise ValueError("y must have shape (n_samples, %s) for this multi-output model, "
                         "got %s" % (n_columns if n_columns is not None else "n_columns",
                                     y.shape))
    return y


def _short(values, limit=10):
    values = list(values)
    return repr(values[:limit])[:-1] + (", ...]" if len(values) > limit else "]")
