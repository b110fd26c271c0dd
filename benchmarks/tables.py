"""Speed and memory of the road from a table to a model (issue 25), as ratios against
the equivalent hand-written pandas + scikit-learn + cymlp script, measured in one run.

    python benchmarks/tables.py make DIR          # the 50,000-row table (3 text, 6 numeric)
    python benchmarks/tables.py cli DIR           # cymlp train on it, end to end
    python benchmarks/tables.py script DIR        # the hand-written script, same work
    python benchmarks/tables.py read-ours DIR     # reading + preprocessing, cymlp's road
    python benchmarks/tables.py read-pandas DIR   # pandas.read_csv + the same transformers

Each mode is one process, so whole-process timings and peaks pair them, e.g.

    farm-bench -n 5 --vs 'python benchmarks/tables.py script /tmp/t' -- \\
        python benchmarks/tables.py cli /tmp/t

Goals: ``cli`` within 1.5x of ``script`` in time and peak memory; ``read-ours``
within 1.5x of ``read-pandas``.  Both sides train the same network (200-100, 30
epochs of batch 128, float32) on the same 80/10 split of the same rows.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np

N_ROWS = 50_000


def make(folder):
    """Write ``table.csv``: 3 text columns (one with 2,000 rare values), 6 numeric ones
    with 2 % empty cells, an integer target."""
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "region": rng.choice(["north", "south", "east", "west", "centre"], N_ROWS),
        "grade": rng.choice(list("ABCDEFG"), N_ROWS),
        "code": ["k%d" % v for v in rng.zipf(1.3, N_ROWS) % 2000]})
    numbers = rng.normal(size=(N_ROWS, 6)) * [1, 10, 100, 0.1, 5, 50] + [0, 50, 1000, 1, 0, 0]
    for k in range(6):
        column = numbers[:, k].copy()
        column[rng.random(N_ROWS) < 0.02] = np.nan
        frame["x%d" % k] = column
    grade = frame["grade"].map({g: i for i, g in enumerate("ABCDEFG")}).to_numpy()
    frame["target"] = np.round(1000 + 200 * grade + 30 * np.nan_to_num(numbers[:, 0])
                               + rng.normal(0, 50, N_ROWS)).astype(int)
    Path(folder).mkdir(parents=True, exist_ok=True)
    frame.to_csv(Path(folder) / "table.csv", index=False)


def cli(folder):
    subprocess.run([sys.executable, "-m", "cymlp", "train", "--data",
                    str(Path(folder) / "table.csv"), "--target", "target", "--no-progress",
                    "--epochs", "30", "--output-dir", str(Path(folder) / "run")],
                   check=True, stdout=subprocess.DEVNULL)


def _transformers(frame):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    text = ["region", "grade", "code"]
    numeric = [c for c in frame.columns if c not in text]
    return ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         numeric),
        ("missing", MissingIndicator(features="all"), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore", max_categories=32,
                                      min_frequency=5, sparse_output=False), text)])


def script(folder):
    """What a user would write by hand for the same work."""
    import pandas as pd
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from cymlp import MLPRegressor

    frame = pd.read_csv(Path(folder) / "table.csv")
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy(float)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2,
                                                        random_state=0)
    X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=0.1,
                                                  random_state=0)
    columns = _transformers(X_fit).fit(X_fit)
    scaler = StandardScaler().fit(y_fit[:, None])
    model = MLPRegressor(hidden_layer_sizes=(200, 100), batch_size=128,
                         random_state=np.random.RandomState(0))
    A = columns.transform(X_fit).astype(np.float32)
    t = scaler.transform(y_fit[:, None]).ravel()
    for _ in range(30):
        model.partial_fit(A, t)
        model.score(columns.transform(X_val).astype(np.float32),
                    scaler.transform(y_val[:, None]).ravel())
    predicted = scaler.inverse_transform(
        model.predict(columns.transform(X_test).astype(np.float32))[:, None]).ravel()
    print("R2", 1 - ((predicted - y_test) ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum())


def read_ours(folder):
    from cymlp._table_reader import read_table, split_target
    from cymlp.tables import column_roles, make_preprocessor

    path = Path(folder) / "table.csv"
    X, _ = split_target(read_table(path, target="target"), "target", path)
    roles = column_roles(X)
    make_preprocessor(roles).fit_transform(X[roles.features])


def read_pandas(folder):
    import pandas as pd

    X = pd.read_csv(Path(folder) / "table.csv").drop(columns=["target"])
    _transformers(X).fit_transform(X)


if __name__ == "__main__":
    modes = {"make": make, "cli": cli, "script": script, "read-ours": read_ours,
             "read-pandas": read_pandas}
    if len(sys.argv) != 3 or sys.argv[1] not in modes:
        sys.exit("usage: tables.py {%s} DIR" % ",".join(modes))
    modes[sys.argv[1]](sys.argv[2])
