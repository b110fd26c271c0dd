"""Model files: round trips without pickle, and every kind of damage refused clearly."""
import json
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning

import cymlp
from cymlp import model_io

X, y = load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return {
            "classifier": cymlp.MLPClassifier((6,), max_iter=30, random_state=0).fit(
                X, np.array(["setosa", "versicolor", "virginica"])[y]),
            "regressor": cymlp.MLPRegressor(hidden_layer_sizes=(5, 4), max_iter=20,
                                            random_state=0).fit(X[:, :3], X[:, 3]),
            "multilabel": cymlp.MLPClassifier((5,), max_iter=10, random_state=0).fit(
                *make_multilabel_classification(40, 4, n_classes=3, random_state=0)),
            "float32": cymlp.MLPClassifier((5,), max_iter=10, random_state=0).fit(
                X.astype(np.float32), y),
        }


@pytest.mark.parametrize("name", ["classifier", "regressor", "multilabel", "float32"])
def test_estimator_round_trip(fitted, name, tmp_path):
    model = fitted[name]
    path = model_io.save(model, tmp_path / "model.npz")
    loaded = model_io.load(path)
    assert type(loaded) is type(model)
    inputs = X[:, :3] if name == "regressor" else X[:40, :4] if name == "multilabel" else X
    inputs = inputs.astype(np.float32) if name == "float32" else inputs
    np.testing.assert_array_equal(loaded.predict(inputs), model.predict(inputs))
    assert loaded.get_params() == model.get_params()
    for attr in ("n_iter_", "loss_", "loss_curve_", "n_layers_", "out_activation_", "t_"):
        assert getattr(loaded, attr) == getattr(model, attr)
    if hasattr(model, "classes_"):
        np.testing.assert_array_equal(loaded.classes_, model.classes_)
    loaded.partial_fit(inputs, model.predict(inputs))  # still trainable


def test_network_round_trip_with_shared_layer(tmp_path):
    shared = cymlp.Dense(4, 4)
    net = cymlp.Network([cymlp.Dense(3, 4), shared, shared, cymlp.Dense(4, 2)],
                        ["tanh", "relu", "logistic"], "identity", random_state=0)
    loaded = model_io.load(model_io.save(net, tmp_path / "net.npz"))
    assert loaded.step_layers == [0, 1, 1, 2]
    np.testing.assert_array_equal(loaded.forward(X[:5, :3]), net.forward(X[:5, :3]))


def test_feature_names_are_kept(tmp_path):
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = cymlp.MLPClassifier((3,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(frame, y)
    loaded = model_io.load(model_io.save(clf, tmp_path / "m.npz"))
    assert list(loaded.feature_names_in_) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(loaded.predict(frame), clf.predict(frame))


def test_every_truncation_and_random_byte_flips_are_refused(fitted, tmp_path):
    path = model_io.save(fitted["classifier"], tmp_path / "model.npz")
    raw = path.read_bytes()
    damaged = tmp_path / "damaged.npz"
    for cut in range(0, len(raw), max(1, len(raw) // 200)):
        damaged.write_bytes(raw[:cut])
        with pytest.raises(model_io.ModelFileError):
            model_io.load(damaged)
    rng = np.random.default_rng(0)
    for _ in range(300):
        flipped = bytearray(raw)
        position = rng.integers(len(raw))
        flipped[position] ^= 1 << rng.integers(8)
        damaged.write_bytes(bytes(flipped))
        try:
            loaded = model_io.load(damaged)
        except model_io.ModelFileError:
            continue
        # a flip in bytes the zip reader ignores (e.g. timestamps) may load: then the
        # model must be exactly the saved one
        np.testing.assert_array_equal(loaded.predict_proba(X), fitted["classifier"].predict_proba(X))


@pytest.mark.parametrize("field_offset, value, what", [
    (8, 99, "unknown compression method"),
    (6, 1, "encryption flag"),
])
def test_damaged_zip_fields_are_refused(fitted, tmp_path, field_offset, value, what):
    raw = bytearray(model_io.save(fitted["classifier"], tmp_path / "model.npz").read_bytes())
    # every local and central file header gets the damaged field
    for signature, offset in ((b"PK\x03\x04", field_offset), (b"PK\x01\x02", field_offset + 2)):
        start = raw.find(signature)
        while start != -1:
            raw[start + offset] = value
            start = raw.find(signature, start + 4)
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(model_io.ModelFileError, match="not a readable cymlp model"):
        model_io.load(damaged)


def _rewrite_header(path, change):
    with np.load(path) as archive:
        entries = {name: archive[name] for name in archive.files}
    header = json.loads(entries["header"].tobytes())
    change(header)
    entries["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    entries.pop("checksum")
    entries["checksum"] = model_io._checksum(entries)
    np.savez(path, **entries)


def test_newer_format_version_is_refused(fitted, tmp_path):
    path = model_io.save(fitted["regressor"], tmp_path / "model.npz")
    _rewrite_header(path, lambda h: h.update(version=model_io.FORMAT_VERSION + 1))
    with pytest.raises(model_io.ModelFileError, match="newer than this cymlp reads"):
        model_io.load(path)


def test_foreign_files_are_refused(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(model_io.ModelFileError, match="not a cymlp model"):
        model_io.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(model_io.ModelFileError):
        model_io.load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError):
        model_io.load(tmp_path / "missing.npz")


def test_unfitted_estimator_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        model_io.save(cymlp.MLPClassifier(), tmp_path / "m.npz")
    with pytest.raises(TypeError, match="can only save"):
        model_io.save(object(), tmp_path / "m.npz")


# -- forged files (issue 14, findings 2-6): each refused as ModelFileError, early ------

def _entries(path):
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


def _write_entries(path, entries, checksum=True):
    """Write ``entries`` as a model file, with a recomputed checksum (a forger's file)."""
    entries = dict(entries)
    entries.pop("checksum", None)
    if checksum:
        entries["checksum"] = model_io._checksum(entries)
    np.savez(path, **entries)


def _header_of(entries):
    return json.loads(entries["header"].tobytes())


def _with_header(entries, header):
    return dict(entries, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))



def _refused(path):
    with pytest.raises(model_io.ModelFileError) as info:
        model_io.load(path)
    assert not getattr(info.value, "unexpected", False), info.value
    return str(info.value)


def test_zip_bomb_member_is_refused_before_inflating(fitted, tmp_path, peak_bytes_of):
    import zipfile
    path = model_io.save(fitted["classifier"], tmp_path / "model.npz")
    for name in ("bomb.npy", "feature_names.npy"):
        # a valid model plus a deflated member of 256 MiB of zeros: ~250 KB more
        bomb = tmp_path / ("bomb-%s.npz" % name)
        bomb.write_bytes(path.read_bytes())
        with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as archive:
            with archive.open(name, "w", force_zip64=True) as member:
                zeros = bytes(1 << 20)
                for _ in range(256):
                    member.write(zeros)
        assert bomb.stat().st_size < 2 << 20
        peak = peak_bytes_of(lambda: _refused(bomb))
        assert peak < 20 << 20, "inflated %d MB before refusing" % (peak >> 20)


def _special_files(tmp_path):
    """A FIFO (opening it waits for a writer) and a link to /dev/zero (never ends)."""
    import os
    if not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"):
        pytest.skip("needs POSIX FIFOs and /dev/zero")
    os.mkfifo(tmp_path / "fifo.npz")
    (tmp_path / "zero.npz").symlink_to("/dev/zero")
    return {"fifo.npz": "a FIFO (named pipe)", "zero.npz": "a character device",
            ".": "a directory"}


def test_only_regular_files_are_read(tmp_path):
    # run in a child with a deadline: before, the FIFO blocked forever and /dev/zero was
    # read "to its end" until the memory ran out
    import subprocess
    import sys
    for name, kind in _special_files(tmp_path).items():
        code = ("from cymlp import model_io\ntry:\n    model_io.load(%r)\n"
                "except model_io.ModelFileError as exc:\n    print(exc)"
                % str(tmp_path / name))
        result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "is %s, not a regular file: not a model file" % kind in result.stdout


def _forged_directory(n_entries):
    """A zip of nothing but a central directory of ``n_entries`` entries named params.npy."""
    import struct
    name = b"params.npy"
    entry = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, 0,
                        0, 0, len(name), 0, 0, 0, 0, 0, 0) + name
    directory = entry * n_entries
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, min(n_entries, 0xFFFF),
                      min(n_entries, 0xFFFF), len(directory), 0, 0)
    return directory + end


def test_huge_zip_directory_is_refused_before_parsing(tmp_path, peak_bytes_of):
    # zipfile parses the whole directory when the archive is opened: 500k entries
    # (a 28 MB file) would cost seconds and hundreds of MB of ZipInfo objects
    forged = tmp_path / "directory.npz"
    forged.write_bytes(_forged_directory(500_000))
    peak = peak_bytes_of(lambda: _refused(forged))
    assert peak < 2 << 20, "used %d MB before refusing" % (peak >> 20)
    assert "zip directory is %d bytes" % (500_000 * 56) in _refused(forged)
    # under the cap the directory is parsed, and its repeated member refused as before
    small = tmp_path / "small.npz"
    small.write_bytes(_forged_directory(2))
    assert "twice" in _refused(small)


def test_archive_comment_of_the_largest_size_still_loads(fitted, tmp_path):
    import zipfile
    path = model_io.save(fitted["regressor"], tmp_path / "model.npz")
    with zipfile.ZipFile(path, "a") as archive:
        archive.comment = b"c" * 0xFFFF
    loaded = model_io.load(path)
    np.testing.assert_array_equal(loaded.predict(X[:, :3]),
                                  fitted["regressor"].predict(X[:, :3]))


def test_declared_sizes_are_checked_before_allocating(fitted, tmp_path, peak_bytes_of):
    entries = _entries(model_io.save(fitted["regressor"], tmp_path / "model.npz"))
    header = _header_of(entries)
    header["network"] = {"layers": [[10000, 10000]], "steps": [0], "activations": [],
                         "output": "identity"}
    header["kind"] = "Network"
    for key in ("params", "fitted"):
        header.pop(key)
    forged = tmp_path / "forged.npz"
    _write_entries(forged, dict(_with_header(entries, header), params=np.zeros(15)))
    peak = peak_bytes_of(lambda: _refused(forged))
    assert peak < 20 << 20, "allocated %d MB before refusing" % (peak >> 20)
    # a member whose .npy header declares 2**33 items (in a file of a few KB)
    raw = bytearray(forged.read_bytes())
    position = raw.find(b"'shape': (15,)")
    assert position > 0
    raw[position:position + 14] = b"'shape': (8589934592,)"[:14]
    forged.write_bytes(bytes(raw))
    peak = peak_bytes_of(lambda: _refused(forged))
    assert peak < 20 << 20


def _mutate(header, change):
    header = json.loads(json.dumps(header))
    change(header)
    return header


FORGED_HEADERS = {
    # finding 4: these escaped as IndexError, AttributeError, RecursionError, TypeError
    "step index out of range": lambda h: h["network"].update(steps=[0, 5]),
    "header is a list": lambda h: (h.clear(), h.update(x=1)),
    "fitted is a list": lambda h: h.update(fitted=[1, 2]),
    "fitted class": lambda h: h["fitted"].update(__class__="MLPRegressor"),
    "params a string": lambda h: h.update(params="x"),
    "layers of floats": lambda h: h["network"].update(layers=[[4.5, 6], [6, 3]]),
    "negative size": lambda h: h["network"].update(layers=[[4, -6], [-6, 3]]),
    "huge size": lambda h: h["network"].update(layers=[[4, 2 ** 40], [2 ** 40, 3]]),
    "unknown activation": lambda h: h["network"].update(activations=["swish"]),
    "bool version": lambda h: h.update(version=True),
    "unknown kind": lambda h: h.update(kind="os.system"),
    "unknown parameter": lambda h: h["params"].update(evil=1),
    "invalid parameter": lambda h: h["params"].update(alpha=-1),
    # finding 5: fitted keys set with setattr, and inconsistent attributes
    "shadow predict": lambda h: h["fitted"].update(predict=1),
    "shadow private": lambda h: h["fitted"].update(_network=1),
    "n_features_in_": lambda h: h["fitted"].update(n_features_in_=1),
    "n_outputs_": lambda h: h["fitted"].update(n_outputs_=2),
    "n_layers_": lambda h: h["fitted"].update(n_layers_=7),
    "out_activation_": lambda h: h["fitted"].update(out_activation_="identity"),
    "label_type": lambda h: h.update(label_type="binary"),
    "hidden_layer_sizes": lambda h: h["params"].update(hidden_layer_sizes=[7]),
    "activation": lambda h: h["params"].update(activation="tanh"),
    "loss_curve_ strings": lambda h: h["fitted"].update(loss_curve_=["a"]),
    "missing n_iter_": lambda h: h["fitted"].pop("n_iter_"),
}


@pytest.mark.parametrize("what", sorted(FORGED_HEADERS))
def test_forged_headers_are_refused(fitted, tmp_path, what):
    entries = _entries(model_io.save(fitted["classifier"], tmp_path / "model.npz"))
    forged = tmp_path / "forged.npz"
    _write_entries(forged, _with_header(entries, _mutate(_header_of(entries),
                                                          FORGED_HEADERS[what])))
    _refused(forged)


def test_deeply_nested_and_oversized_headers_are_refused(fitted, tmp_path):
    entries = _entries(model_io.save(fitted["classifier"], tmp_path / "model.npz"))
    forged = tmp_path / "forged.npz"
    nested = b'{"format": "cymlp-model", "version": 1, "x": ' + b"[" * 100000 + b"]" * 100000 + b"}"
    _write_entries(forged, dict(entries, header=np.frombuffer(nested, dtype=np.uint8)))
    assert "nested" in _refused(forged)
    header = _header_of(entries)
    header["fitted"]["loss_curve_"] = [0.5] * (4 << 20)   # 20 MB of JSON
    _write_entries(forged, _with_header(entries, header))
    assert "bytes" in _refused(forged)


def test_inconsistent_classes_are_refused(fitted, tmp_path):
    entries = _entries(model_io.save(fitted["classifier"], tmp_path / "model.npz"))
    forged = tmp_path / "forged.npz"
    for classes in (np.array(["a", "b"]), np.array(["b", "a", "c"]), np.array(["a", "a", "c"]),
                    np.array([0.0, np.nan, 1.0]), np.zeros((3, 1))):
        _write_entries(forged, dict(entries, classes=classes))
        _refused(forged)
    _write_entries(forged, {k: v for k, v in entries.items() if k != "classes"})
    _refused(forged)


def test_load_time_is_linear_in_the_number_of_layers(tmp_path):
    # finding 6: 2000 / 4000 / 8000 one-unit layers loaded in 0.3 / 1.0 / 4.6 s
    # (quadratic scans); a ratio of 4x the layers must cost well under 16x the time
    import time
    times = {}
    for n in (4000, 16000):
        net = cymlp.Network([1] * (n + 1), activation="identity", output="identity",
                            random_state=0)
        path = model_io.save(net, tmp_path / ("deep-%d.npz" % n))
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            loaded = model_io.load(path)
            best = min(best, time.perf_counter() - start)
        assert loaded.n_steps == n
        times[n] = best
    assert times[16000] < 9 * times[4000], times


def test_cli_reports_a_forged_model_in_one_line(fitted, tmp_path):
    import subprocess
    import sys
    entries = _entries(model_io.save(fitted["float32"], tmp_path / "model.npz"))
    forged = tmp_path / "forged.npz"
    _write_entries(forged, _with_header(entries, _mutate(_header_of(entries),
                                                          FORGED_HEADERS["fitted is a list"])))
    np.save(tmp_path / "x.npy", np.zeros((3, 4), np.float32))
    for command in (["evaluate", str(forged)], ["predict", str(forged), str(tmp_path / "x.npy")]):
        proc = subprocess.run([sys.executable, "-m", "cymlp"] + command, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "forged.npz" in proc.stderr


def test_a_failed_save_leaves_the_old_file_and_nothing_else(fitted, tmp_path, monkeypatch):
    path = model_io.save(fitted["regressor"], tmp_path / "model.npz")
    before = path.read_bytes()
    # the writer fails half-way: the old file stays whole, no temporary file is left
    def fail(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(OSError, match="disk full"):
        model_io.save(fitted["classifier"], path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    # a directory is refused before a temporary file is made in its parent
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory"):
        model_io.save(fitted["regressor"], tmp_path / "folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "model.npz"]


def test_loading_closes_the_file_it_opened(fitted, tmp_path):
    # zipfile does not close a file it is handed: every load left it to the garbage
    # collector (a ResourceWarning each time)
    import gc
    good = model_io.save(fitted["regressor"], tmp_path / "model.npz")
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(good.read_bytes()[:-30])
    directory = tmp_path / "directory.npz"
    directory.write_bytes(_forged_directory(5000))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        model_io.load(good)
        for path in (damaged, directory):
            with pytest.raises(model_io.ModelFileError):
                model_io.load(path)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
