"""IDX reading, the search order, and the verified download against a local HTTP server."""
import gzip
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from cymlp import datasets

DEBIAN = Path(datasets.FASHION_MNIST.debian_dir)


def idx_bytes(array, code=0x08):
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(datasets.IDX_DTYPES[code]).tobytes()


def write_fake_set(directory, n_train=6, n_test=4, gz=True):
    """Four small valid IDX files with MNIST's names."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    parts = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for stem, array in parts.items():
        raw = idx_bytes(array)
        if gz:
            (directory / (stem + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (directory / stem).write_bytes(raw)
    return parts


def test_parse_idx_round_trip_every_type():
    for code, dtype in datasets.IDX_DTYPES.items():
        array = (np.arange(24).reshape(2, 3, 4) % 7).astype(np.dtype(dtype).newbyteorder("="))
        np.testing.assert_array_equal(datasets.parse_idx(idx_bytes(array, code)), array)


@pytest.mark.parametrize("raw, message", [
    (b"\x01\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x05", "magic"),
    (b"\x00\x00\x07\x01" + b"\x00\x00\x00\x01" + b"\x05", "type code"),
    (b"\x00\x00\x08\x02" + b"\x00\x00", "header"),
    (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x05" + b"\x01\x02", "truncated"),
    (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x01\x02", "longer"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
])
def test_parse_idx_rejects_bad_files_naming_them(raw, message):
    with pytest.raises(ValueError, match="broken.idx.*" + message):
        datasets.parse_idx(raw, "broken.idx")


def test_corrupted_gzip_is_reported_with_its_path(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8)))[:20])
    with pytest.raises(ValueError, match="x-idx1-ubyte.gz.*corrupted or truncated"):
        datasets.read_idx(path)


def test_search_order_explicit_path_then_environment_then_cache(tmp_path, monkeypatch):
    explicit, env, cache = tmp_path / "explicit", tmp_path / "env", tmp_path / "cache"
    write_fake_set(explicit, n_train=3)
    write_fake_set(env / "mnist", n_train=4, gz=False)
    write_fake_set(cache, n_train=5)
    monkeypatch.setenv(datasets.ENV_DATA_DIR, str(env))
    assert len(datasets.load_mnist(explicit, cache=cache).y_train) == 3
    assert len(datasets.load_mnist(cache=cache).y_train) == 4
    monkeypatch.delenv(datasets.ENV_DATA_DIR)
    data = datasets.load_mnist(cache=cache)
    assert len(data.y_train) == 5
    assert data.X_train.dtype == np.float32 and data.X_train.shape == (5, 784)
    assert 0 <= data.X_train.min() and data.X_train.max() <= 1
    assert data.y_train.dtype == np.int64


def test_missing_data_without_download_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.ENV_DATA_DIR, raising=False)
    with pytest.raises(datasets.DatasetNotFoundError, match="mnist not found"):
        datasets.load_mnist(cache=tmp_path / "empty")
    with pytest.raises(datasets.DatasetNotFoundError, match="cannot be downloaded"):
        datasets.download(datasets.MNIST, tmp_path)


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server on 127.0.0.1 serving a directory; yields (directory, url)."""
    served = tmp_path / "served"
    served.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, "http://127.0.0.1:%d/" % server.server_address[1]
    server.shutdown()
    server.server_close()


needs_debian_copy = pytest.mark.skipif(not DEBIAN.is_dir(),
                                       reason="Debian's dataset-fashion-mnist is not installed")


@needs_debian_copy
def test_download_verifies_and_caches(mirror, tmp_path, monkeypatch):
    served, url = mirror
    for path in DEBIAN.glob("*.gz"):
        shutil.copy(path, served / path.name)
    monkeypatch.delenv(datasets.ENV_DATA_DIR, raising=False)
    cache = tmp_path / "cache"
    files = datasets.download(datasets.FASHION_MNIST, cache, base_url=url)
    assert sorted(p.name for p in cache.iterdir()) == sorted(p.name for p in files.values())
    data = datasets.load(datasets.FASHION_MNIST, cache, download_missing=False)
    assert data.X_train.shape == (60000, 784) and data.X_test.shape == (10000, 784)


@needs_debian_copy
@pytest.mark.parametrize("damage, message", [
    ("truncate", "SHA-256"),
    ("corrupt", "SHA-256"),
])
def test_download_of_a_damaged_file_fails_and_leaves_nothing(mirror, tmp_path, damage, message,
                                                            monkeypatch):
    served, url = mirror
    # issue 14, finding 10: the download's SHA-256 is checked before anything is
    # inflated (before: the file was inflated whole, then checked)
    inflated = []
    real_open = datasets.gzip.open
    monkeypatch.setattr(datasets.gzip, "open",
                        lambda path, *a, **k: inflated.append(str(path)) or real_open(path, *a, **k))
    for path in DEBIAN.glob("*.gz"):
        shutil.copy(path, served / path.name)
    victim = served / "train-labels-idx1-ubyte.gz"
    if damage == "truncate":
        victim.write_bytes(victim.read_bytes()[:1000])
    else:
        raw = bytearray(gzip.decompress(victim.read_bytes()))
        raw[-1] = (raw[-1] + 1) % 10
        victim.write_bytes(gzip.compress(bytes(raw)))
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz.*" + message):
        datasets.download(datasets.FASHION_MNIST, cache, base_url=url)
    leftovers = sorted(p.name for p in cache.iterdir())
    # train-images (downloaded first) was inflated to be checked; train-labels never was
    assert len(inflated) == 1, inflated
    assert "train-labels-idx1-ubyte.gz" not in leftovers
    assert not [name for name in leftovers if name.startswith(".part-")]


def test_unreachable_mirror_fails_cleanly(tmp_path):
    with pytest.raises(OSError):
        datasets.download(datasets.FASHION_MNIST, tmp_path, base_url="http://127.0.0.1:9/",
                          timeout=5)
    assert not list(tmp_path.iterdir())


# -- untrusted files (issue 14, finding 10) --------------------------------------


def test_gzip_bomb_is_inflated_no_further_than_its_header(tmp_path, peak_bytes_of):
    # a valid 10-byte IDX file followed by 512 MiB of zeros: ~0.5 MB of gzip
    path = tmp_path / "bomb-idx1-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(idx_bytes(np.arange(10, dtype=np.uint8)))
        zeros = bytes(1 << 20)
        for _ in range(512):
            out.write(zeros)
    assert path.stat().st_size < 4 << 20

    def read():
        with pytest.raises(ValueError, match="longer than its header"):
            datasets.read_idx(path)
    assert peak_bytes_of(read) < 32 << 20


@pytest.mark.parametrize("dims", [[0xFFFFFFFF, 0xFFFFFFFF], [1 << 16, 1 << 16, 1 << 16]])
def test_absurd_idx_headers_are_refused_unread(tmp_path, dims):
    raw = bytes([0, 0, 0x08, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    path = tmp_path / "absurd-idx3-ubyte"
    path.write_bytes(raw + bytes(100))
    with pytest.raises(ValueError, match="absurd-idx3-ubyte declares dimensions"):
        datasets.read_idx(path)


def test_known_files_are_verified_wherever_found(tmp_path, monkeypatch):
    # a folder of well-formed IDX files that are not Fashion-MNIST's: refused by checksum
    monkeypatch.delenv(datasets.ENV_DATA_DIR, raising=False)
    write_fake_set(tmp_path / "fake")
    with pytest.raises(ValueError, match="SHA-256"):
        datasets.load(datasets.FASHION_MNIST, tmp_path / "fake", download_missing=False)
    # the same files load as MNIST, which has no recorded checksums
    assert len(datasets.load_mnist(tmp_path / "fake").y_train) == 6


def test_float_images_with_nan_or_inf_are_refused(tmp_path):
    directory = tmp_path / "floats"
    write_fake_set(directory, gz=False)
    images = np.zeros((6, 28, 28), np.float32)
    images[2, 3, 4] = np.nan
    (directory / "train-images-idx3-ubyte").write_bytes(idx_bytes(images, 0x0D))
    with pytest.raises(ValueError, match="NaN or infinite"):
        datasets.load_mnist(directory)
    images[2, 3, 4] = np.inf
    (directory / "train-images-idx3-ubyte").write_bytes(idx_bytes(images, 0x0D))
    with pytest.raises(ValueError, match="NaN or infinite"):
        datasets.load_mnist(directory)


def test_idx_files_must_be_regular_files(tmp_path):
    import os
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs POSIX FIFOs")
    import subprocess
    import sys
    # in a child with a deadline: reading a FIFO waited for a writer forever
    os.mkfifo(tmp_path / "fifo-idx3-ubyte")
    code = ("from cymlp import datasets\ntry:\n    datasets.read_idx(%r)\n"
            "except ValueError as exc:\n    print(exc)" % str(tmp_path / "fifo-idx3-ubyte"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert "fifo-idx3-ubyte is a FIFO (named pipe), not a regular file" in result.stdout
