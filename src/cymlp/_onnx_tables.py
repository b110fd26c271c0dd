"""ONNX export of a table's preprocessing (``cymlp.tables.make_table_pipeline``): one
graph input per column, text columns as strings.

skl2onnx converts ``ColumnTransformer``, ``SimpleImputer`` and ``StandardScaler``; it
has no converter for ``MissingIndicator``, and its ``OneHotEncoder`` converter refuses
pooled infrequent categories.  This module adds, for one conversion at a time:

- ``MissingIndicator`` (all features, NaN as missing): ``Cast(IsNaN(x))``;
- ``OneHotEncoder`` of text columns, infrequent pooling included: per column an
  ``ai.onnx.ml.LabelEncoder`` from category to output column (read from the fitted
  encoder itself by encoding each category), then ``OneHot`` with one extra column
  for unseen categories, which is cut off (an unseen category is all zeros).  The
  empty-cell category (NaN in Python) is fed to the graph as an empty string or
  ``"nan"``;

(``cymlp.onnx`` converts the estimator, and a ``TransformedTargetRegressor`` of one.)
"""
import numpy as np


def _missing_shapes(operator):
    from skl2onnx.common.data_types import FloatTensorType
    n = operator.inputs[0].get_first_dimension()
    width = sum(i.type.shape[1] for i in operator.inputs)
    operator.outputs[0].type = FloatTensorType([n, width])


def _convert_missing(scope, operator, container):
    from skl2onnx.proto import onnx_proto
    model = operator.raw_operator
    if model.features != "all" or not (isinstance(model.missing_values, float)
                                       and np.isnan(model.missing_values)):
        raise NotImplementedError("cymlp converts MissingIndicator(features='all') with "
                                  "NaN as the missing value only")
    inputs = [i.full_name for i in operator.inputs]
    x = inputs[0]
    if len(inputs) > 1:
        x = scope.get_unique_variable_name("missing_input")
        container.add_node("Concat", inputs, x, axis=1,
                           name=scope.get_unique_operator_name("Concat"))
    isnan = scope.get_unique_variable_name("isnan")
    container.add_node("IsNaN", [x], isnan, name=scope.get_unique_operator_name("IsNaN"))
    container.add_node("Cast", [isnan], operator.outputs[0].full_name,
                       to=onnx_proto.TensorProto.FLOAT,
                       name=scope.get_unique_operator_name("Cast"))


def _column_codes(encoder, column):
    """For one input column of a fitted OneHotEncoder: its categories as text, the
    output column (within the column's block) each one sets, and the block's width."""
    import pandas as pd

    categories = encoder.categories_
    probe = {}
    for k, values in enumerate(categories):
        probe[k] = list(values) if k == column else [values[0]] * len(categories[column])
    # object columns: pandas would read a list of text and None as text with NaN
    frame = pd.DataFrame({name: pd.Series(probe[k], dtype=object) for k, name in enumerate(
        encoder.feature_names_in_ if hasattr(encoder, "feature_names_in_")
        else range(len(categories)))})
    encoded = np.asarray(encoder.transform(frame if hasattr(encoder, "feature_names_in_")
                                           else frame.to_numpy()))
    widths = [len([n for n in names]) for names in _blocks(encoder)]
    start = sum(widths[:column])
    block = encoded[:, start:start + widths[column]]
    codes = np.where(block.any(axis=1), block.argmax(axis=1), widths[column])
    texts = []
    for value in categories[column]:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            texts.append(None)
        elif isinstance(value, str):
            texts.append(value)
        else:
            raise NotImplementedError(
                "ONNX export one-hot encodes text columns; column %r has %s categories "
                "(convert it to str before fitting)" % (encoder.feature_names_in_[column]
                                                        if hasattr(encoder,
                                                                   "feature_names_in_")
                                                        else column, type(value).__name__))
    return texts, codes.astype(np.int64), widths[column]


def _blocks(encoder):
    """The output feature names of each input column, in order."""
    names = list(encoder.get_feature_names_out())
    inputs = list(encoder.feature_names_in_) if hasattr(encoder, "feature_names_in_") \
        else ["x%d" % k for k in range(len(encoder.categories_))]
    counts = getattr(encoder, "_n_features_outs", None)
    if counts is None:   # pragma: no cover - scikit-learn >= 1.1 has it
        raise NotImplementedError("this scikit-learn's OneHotEncoder has no block widths")
    blocks, start = [], 0
    for count in counts:
        blocks.append(names[start:start + count])
        start += count
    assert len(blocks) == len(inputs)
    return blocks


def _one_hot_shapes(operator):
    from skl2onnx.common.data_types import FloatTensorType
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType(
        [n, len(operator.raw_operator.get_feature_names_out())])


def _convert_one_hot(scope, operator, container):
    from skl2onnx.proto import onnx_proto
    encoder = operator.raw_operator
    if encoder.drop is not None:
        raise NotImplementedError("cymlp's ONNX one-hot converter takes drop=None")

    def name(seed):
        return scope.get_unique_variable_name(seed)

    def node(op, inputs, output, **attrs):
        container.add_node(op, inputs, output, name=scope.get_unique_operator_name(op),
                           **attrs)
        return output

    inputs = [i.full_name for i in operator.inputs]
    x = inputs[0]
    if len(inputs) > 1:
        x = node("Concat", inputs, name("one_hot_input"), axis=1)
    parts = []
    for column in range(len(encoder.categories_)):
        texts, codes, width = _column_codes(encoder, column)
        keys, values = [], []
        for text, code in zip(texts, codes):
            if text is None:
                keys.extend(["", "nan"])
                values.extend([int(code), int(code)])
            else:
                keys.append(text)
                values.append(int(code))
        if None in texts:   # a real category "" or "nan" keeps its own code
            seen = {}
            for key, value in zip(keys, values):
                if key not in seen or key in [t for t in texts if t is not None]:
                    seen[key] = value
            keys, values = list(seen), [seen[k] for k in seen]
        index_name = name("column")
        container.add_initializer(index_name, onnx_proto.TensorProto.INT64, [1], [column])
        picked = node("Gather", [x, index_name], name("one_hot_column"), axis=1)
        flat_shape = name("flat_shape")
        container.add_initializer(flat_shape, onnx_proto.TensorProto.INT64, [1], [-1])
        flat = node("Reshape", [picked, flat_shape], name("one_hot_flat"))
        code = node("LabelEncoder", [flat], name("one_hot_code"), op_domain="ai.onnx.ml",
                    op_version=2, keys_strings=keys, values_int64s=values,
                    default_int64=width)
        depth = name("depth")
        container.add_initializer(depth, onnx_proto.TensorProto.INT64, [1], [width + 1])
        on_off = name("on_off")
        container.add_initializer(on_off, onnx_proto.TensorProto.FLOAT, [2], [0.0, 1.0])
        hot = node("OneHot", [code, depth, on_off], name("one_hot"), axis=-1)
        starts, ends, axes = name("starts"), name("ends"), name("axes")
        container.add_initializer(starts, onnx_proto.TensorProto.INT64, [1], [0])
        container.add_initializer(ends, onnx_proto.TensorProto.INT64, [1], [width])
        container.add_initializer(axes, onnx_proto.TensorProto.INT64, [1], [1])
        parts.append(node("Slice", [hot, starts, ends, axes], name("one_hot_block")))
    if len(parts) == 1:
        node("Identity", parts, operator.outputs[0].full_name)
    else:
        node("Concat", parts, operator.outputs[0].full_name, axis=1)


def initial_types(pipeline):
    """One graph input per column the pipeline reads: text columns (one-hot encoded)
    as strings, the others as float32."""
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    from cymlp.tables import categorical_columns

    text = set(categorical_columns(pipeline))
    return [(str(c), StringTensorType([None, 1]) if str(c) in text
             else FloatTensorType([None, 1])) for c in pipeline.feature_names_in_]


def convert(pipeline, *, target_opset=None, options=None, name=None):
    """Convert a fitted table pipeline (its estimator's converter registered already);
    see ``cymlp.onnx.to_onnx``.

    Returns
    -------
    onnx.ModelProto
    """
    from skl2onnx import convert_sklearn, get_latest_tested_opset_version
    from sklearn.impute import MissingIndicator
    from sklearn.preprocessing import OneHotEncoder

    # LabelEncoder from text to int64 codes is ai.onnx.ml's version 2 and later
    opsets = {"": target_opset or get_latest_tested_opset_version(), "ai.onnx.ml": 2}
    return convert_sklearn(
        pipeline, initial_types=initial_types(pipeline), target_opset=opsets,
        options=options, name=name,
        custom_conversion_functions={OneHotEncoder: _convert_one_hot,
                                     MissingIndicator: _convert_missing},
        custom_shape_calculators={OneHotEncoder: _one_hot_shapes,
                                  MissingIndicator: _missing_shapes})


def inputs_of(pipeline, X):
    """The ONNX Runtime feed for the rows of the DataFrame ``X``: one (n, 1) array per
    column, text with empty cells as empty strings, numbers as float32.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
    X : pandas.DataFrame

    Returns
    -------
    dict
    """
    from cymlp.tables import categorical_columns

    text = set(categorical_columns(pipeline))
    feed = {}
    for column in pipeline.feature_names_in_:
        values = X[column]
        if str(column) in text:
            feed[str(column)] = np.array([["" if v is None or v != v else str(v)]
                                          for v in values.tolist()], dtype=object)
        else:
            feed[str(column)] = values.to_numpy(dtype=np.float32).reshape(-1, 1)
    return feed
