"""The download path end to end against a local HTTP server on 127.0.0.1.

The tests write tiny datasets in the real formats (CIFAR-10's python-pickle batches in
a .tar.gz, MNIST's gzipped IDX files), serve them, and check: a good checksum loads
with the right shapes, labels and pixels; a bad checksum is a clear error; a truncated
archive in the cache or a cut-off transfer is detected and fetched again; a damaged
unpacked file is unpacked again; an unreachable server gives the manual steps."""
import functools
import gzip
import hashlib
import http.server
import io
import os
import pickle
import socket
import struct
import tarfile
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from minitorch_cnn import data
from minitorch_cnn.data.datasets import CorruptDataError

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck"]


# ------------------------------------------------------------------ server
class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; /truncated/<file> promises the whole file but sends half."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path.startswith("/truncated/"):
            body = (Path(self.directory) / self.path[len("/truncated/"):]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(_Handler, directory=str(www)))
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield SimpleNamespace(www=www, url=f"http://127.0.0.1:{httpd.server_address[1]}",
                          requests=httpd.requests)
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The data folder, given the way users give it: $MINITORCH_CNN_DATA."""
    root = tmp_path / "cache"
    monkeypatch.setenv("MINITORCH_CNN_DATA", str(root))
    return root


def _dead_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _no_temp_files(folder):
    return not [p for p in Path(folder).rglob("*") if p.name.endswith((".part", ".tmp"))]


# ------------------------------------------------------------------ CIFAR-10
class Py2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle wrote the CIFAR-10 batches in 2009: byte strings as
    Python 2 str (BINSTRING, no global), classes and functions by GLOBAL, NumPy's
    _reconstruct under its old module name numpy.core.multiarray. So the files hold
    exactly the globals of the official ones: _reconstruct, ndarray and dtype."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        n = len(obj)
        self.write((pickle.SHORT_BINSTRING + bytes([n]) if n < 256
                    else pickle.BINSTRING + struct.pack("<i", n)) + obj)
        self.memoize(obj)

    def save_global(self, obj, name=None):
        module = {"numpy._core.multiarray": "numpy.core.multiarray"}.get(obj.__module__,
                                                                         obj.__module__)
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__name__}\n".encode())
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[type] = save_global


def py2_pickle(obj):
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _make_cifar(www, n=4, seed=0, replace=None):
    """cifar-10-python.tar.gz in the real layout, n images per batch file; returns
    the rows and labels written, per file, and each file's MD5. ``replace``: name ->
    bytes, files to plant instead of the real ones."""
    rng = np.random.default_rng(seed)
    written, members = {}, {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        rows = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        written[name] = (rows, labels)
        members[name] = py2_pickle({b"batch_label": f"batch {name}".encode(), b"labels": labels,
                                    b"data": rows,
                                    b"filenames": [f"{i}.png".encode() for i in range(n)]})
    members["batches.meta"] = py2_pickle(
        {b"label_names": [c.encode() for c in CIFAR_NAMES], b"num_cases_per_batch": n,
         b"num_vis": 3072})
    members.update(replace or {})
    path = www / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    md5s = {name: hashlib.md5(blob).hexdigest() for name, blob in members.items()}
    return path, written, md5s


def _cifar_class(url, md5, file_md5):
    return type("LocalCIFAR10", (data.CIFAR10,), {"url": url, "md5": md5,
                                                  "file_md5": file_md5})


def _check_cifar(ds, written, names):
    rows = np.concatenate([written[k][0] for k in names])
    labels = sum((written[k][1] for k in names), [])
    assert ds.data.shape == (len(rows), 32, 32, 3) and ds.data.dtype == np.uint8
    np.testing.assert_array_equal(ds.targets, labels)
    # row layout: 1024 R values, then 1024 G, then 1024 B, each plane row-major
    i, y, x = len(rows) - 1, 5, 17
    for c in range(3):
        assert ds.data[i, y, x, c] == rows[i, c * 1024 + y * 32 + x]
    assert ds.classes == CIFAR_NAMES


TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


def test_cifar10_download_verify_unpack_load(server, cache):
    archive, written, md5s = _make_cifar(server.www)
    CIFAR = _cifar_class(f"{server.url}/cifar-10-python.tar.gz", _md5(archive), md5s)
    train = CIFAR(train=True)                              # root=None: $MINITORCH_CNN_DATA
    _check_cifar(train, written, TRAIN)
    assert len(train) == 20 and train[3][1] == written["data_batch_1"][1][3]
    test = CIFAR(train=False, progress=False)
    _check_cifar(test, written, ["test_batch"])
    assert server.requests == ["/cifar-10-python.tar.gz"]  # fetched once, then cached
    assert _md5(cache / "cifar-10-python.tar.gz") == _md5(archive)
    assert (cache / "cifar-10-batches-py" / "data_batch_5").is_file() and _no_temp_files(cache)
    x, y = next(iter(data.DataLoader(test, batch_size=4)))
    assert x.shape == (4, 3, 32, 32) and x.dtype == np.float32 and y.dtype == np.int64


def test_cifar10_bad_checksum_is_a_clear_error(server, cache):
    archive, _, md5s = _make_cifar(server.www)
    url = f"{server.url}/cifar-10-python.tar.gz"
    with pytest.raises(data.ChecksumError) as e:
        _cifar_class(url, "0" * 32, md5s)()
    msg = str(e.value)
    assert f"has md5 {_md5(archive)}, expected {'0' * 32}" in msg and url in msg
    assert not (cache / "cifar-10-python.tar.gz").exists() and _no_temp_files(cache)


def test_truncated_archive_in_cache_is_detected_and_refetched(server, cache):
    archive, written, md5s = _make_cifar(server.www)
    cache.mkdir()
    blob = archive.read_bytes()
    (cache / archive.name).write_bytes(blob[: len(blob) // 2])     # an interrupted copy
    CIFAR = _cifar_class(f"{server.url}/{archive.name}", _md5(archive), md5s)
    with pytest.warns(RuntimeWarning, match="corrupt or truncated"):
        ds = CIFAR(train=False)
    _check_cifar(ds, written, ["test_batch"])
    assert server.requests == [f"/{archive.name}"]
    assert _md5(cache / archive.name) == _md5(archive)


def test_damaged_unpacked_file_is_unpacked_again(server, cache):
    archive, written, md5s = _make_cifar(server.www)
    CIFAR = _cifar_class(f"{server.url}/{archive.name}", _md5(archive), md5s)
    CIFAR(train=True)
    batch = cache / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:100])                    # damaged on disk
    with pytest.warns(RuntimeWarning, match="unpacking the verified archive again"):
        ds = CIFAR(train=True)
    _check_cifar(ds, written, TRAIN)
    assert len(server.requests) == 1                   # the verified archive was reused


def test_cut_off_transfer_is_an_error_and_leaves_no_file(server, cache):
    archive, _, md5s = _make_cifar(server.www)
    url = f"{server.url}/truncated/{archive.name}"
    with pytest.raises(data.DownloadError, match="stopped after"):
        _cifar_class(url, _md5(archive), md5s)()
    assert not (cache / archive.name).exists() and _no_temp_files(cache)


def test_offline_error_gives_the_manual_steps(cache, tmp_path):
    url = f"{_dead_url()}/cifar-10-python.tar.gz"
    CIFAR = _cifar_class(url, data.CIFAR10.md5, data.CIFAR10.file_md5)
    with pytest.raises(data.OfflineError) as e:
        CIFAR(train=True)
    msg = str(e.value)
    for part in ["offline", url, str(cache / "cifar-10-python.tar.gz"),
                 "c58f30108f718f92721af3b95e74349a", "md5sum", "MINITORCH_CNN_DATA"]:
        assert part in msg, part
    with pytest.raises(FileNotFoundError, match="download=False") as e:
        CIFAR(root=tmp_path / "elsewhere", download=False)
    assert url in str(e.value)


def test_official_cifar10_location_and_checksum():
    assert data.CIFAR10.url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert data.CIFAR10.md5 == "c58f30108f718f92721af3b95e74349a"
    assert data.CIFAR10.file_md5 == {       # the published MD5 of each unpacked file
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
        "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"}


class _RunsCommand:
    """Unpickling this runs ``touch marker``: what a planted batch file would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_planted_batch_that_would_run_code_is_refused(server, cache, tmp_path):
    """Even with its MD5 in the table (a mirror's table, say), a batch file whose pickle
    names any global beyond NumPy's array rebuilding is refused, and nothing runs."""
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"data": _RunsCommand(marker), "labels": [0]}, protocol=2)
    archive, _, md5s = _make_cifar(server.www, replace={"data_batch_1": evil})
    CIFAR = _cifar_class(f"{server.url}/{archive.name}", _md5(archive), md5s)
    with pytest.raises(CorruptDataError) as e, pytest.warns(RuntimeWarning):
        CIFAR(train=True)
    msg = str(e.value)
    assert "data_batch_1" in msg and "refusing to unpickle the global" in msg
    assert "system" in msg and "could run code" in msg and "nothing in this file was run" in msg
    assert not marker.exists()
    assert CIFAR(train=False).data.shape == (4, 32, 32, 3)      # the other files load


def test_a_file_replaced_after_unpacking_fails_its_md5_and_is_unpacked_again(server, cache,
                                                                             tmp_path):
    """Every load checks each unpacked file's MD5: a batch planted in the cache is found
    before it is unpickled, replaced from the verified archive, and never run."""
    archive, written, md5s = _make_cifar(server.www)
    CIFAR = _cifar_class(f"{server.url}/{archive.name}", _md5(archive), md5s)
    CIFAR(train=False)
    marker = tmp_path / "pwned"
    planted = cache / "cifar-10-batches-py" / "test_batch"
    planted.write_bytes(pickle.dumps({"data": _RunsCommand(marker)}, protocol=2))
    with pytest.warns(RuntimeWarning, match=r"test_batch has md5 \w+, expected "
                                            + md5s["test_batch"]):
        ds = CIFAR(train=False)
    _check_cifar(ds, written, ["test_batch"])
    assert not marker.exists() and _md5(planted) == md5s["test_batch"]


def test_py2_pickles_hold_only_the_three_numpy_globals():
    """The fixture's batches name what the official files name, and nothing else."""
    import pickletools
    blob = py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]})
    names = {arg for op, arg, _ in pickletools.genops(blob) if op.name == "GLOBAL"}
    assert names == {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}
    assert pickle.loads(blob, encoding="latin1")["data"].shape == (2, 3072)


def test_a_data_folder_that_is_a_file_says_so(tmp_path, monkeypatch):
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    for root in (afile, afile / "sub"):
        for cls in (data.CIFAR10, data.MNIST):
            with pytest.raises(NotADirectoryError) as e:
                cls(root=root, download=False)
            msg = str(e.value)
            assert str(root) in msg and "not a folder" in msg and "Put each file" not in msg
    monkeypatch.setenv("MINITORCH_CNN_DATA", str(afile))
    with pytest.raises(NotADirectoryError, match="is a file, not a folder.*MINITORCH_CNN_DATA"):
        data.CIFAR10(download=False)
    assert afile.read_text() == "x"


# ------------------------------------------------------------------ MNIST
def _idx(array):
    """IDX bytes: magic [0, 0, 0x08 (uint8), ndim], big-endian dims, then the values."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) \
        + array.tobytes()


def _make_mnist(www, n_train=12, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    folder = www / "mnist"
    folder.mkdir()
    arrays, md5s = {}, {}
    for prefix, n in [("train", n_train), ("t10k", n_test)]:
        arrays[prefix] = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                          rng.integers(0, 10, n).astype(np.uint8))
        for kind, arr in zip(["images-idx3", "labels-idx1"], arrays[prefix]):
            name = f"{prefix}-{kind}-ubyte.gz"
            (folder / name).write_bytes(gzip.compress(_idx(arr)))
            md5s[name] = _md5(folder / name)
    return arrays, md5s


def _mnist_class(mirrors, md5s):
    return type("LocalMNIST", (data.MNIST,), {"mirrors": mirrors, "resources": md5s})


def test_mnist_from_the_second_mirror_and_checks(server, cache):
    arrays, md5s = _make_mnist(server.www)
    MNIST = _mnist_class([f"{_dead_url()}/", f"{server.url}/mnist/"], md5s)  # 1st is down
    train, test = MNIST(train=True), MNIST(train=False)
    for ds, (images, labels) in [(train, arrays["train"]), (test, arrays["t10k"])]:
        assert ds.data.shape == images.shape + (1,) and ds.data.dtype == np.uint8
        np.testing.assert_array_equal(ds.data[..., 0], images)
        np.testing.assert_array_equal(ds.targets, labels)
        assert ds.targets.dtype == np.int64
    assert sorted(server.requests) == sorted(f"/mnist/{n}" for n in md5s)

    raw = cache / "MNIST" / "raw" / "train-images-idx3-ubyte"
    raw.write_bytes(raw.read_bytes()[:-10])                    # truncated on disk
    with pytest.warns(RuntimeWarning, match="again"):
        np.testing.assert_array_equal(MNIST(train=True).data[..., 0], arrays["train"][0])
    assert len(server.requests) == 4                           # the cached .gz was reused


def test_mnist_bad_checksum_and_offline(server, cache):
    _, md5s = _make_mnist(server.www)
    bad = dict(md5s, **{"t10k-labels-idx1-ubyte.gz": "f" * 32})
    with pytest.raises(data.ChecksumError, match="expected f{32}"):
        _mnist_class([f"{server.url}/mnist/"], bad)(train=False)
    dead = f"{_dead_url()}/"
    with pytest.raises(data.OfflineError) as e:
        _mnist_class([dead], md5s)(train=True)
    msg = str(e.value)                     # every file of the split, with its checksum
    for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]:
        assert dead + name in msg and md5s[name] in msg
        assert str(cache / "MNIST" / "raw" / name) in msg


def test_read_idx_types_and_damage(tmp_path):
    ints = np.arange(-6, 6, dtype=">i4").reshape(3, 4)
    p = tmp_path / "ints-idx2"
    p.write_bytes(bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 3, 4) + ints.tobytes())
    out = data.read_idx(p)
    np.testing.assert_array_equal(out, ints)
    assert out.dtype.isnative and out.dtype == np.int32
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(CorruptDataError, match="header promises"):
        data.read_idx(p)
    p.write_bytes(b"\x12\x34\x08\x01")
    with pytest.raises(CorruptDataError, match="not an IDX file"):
        data.read_idx(p)


# ------------------------------------------------------------------ helpers
def test_unverified_archive_that_fails_to_unpack_is_fetched_again(server, cache):
    archive, _, md5s = _make_cifar(server.www)
    cache.mkdir()
    (cache / archive.name).write_bytes(archive.read_bytes()[:300])   # no checksum known
    data.fetch_and_extract(archive.name, [f"{server.url}/{archive.name}"], cache)
    assert (cache / "cifar-10-batches-py" / "batches.meta").is_file()
    assert server.requests == [f"/{archive.name}"]


def test_extract_refuses_paths_outside_the_destination(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(data.DownloadError, match="refusing"):
        data.extract_archive(evil, tmp_path / "out")
    assert not (tmp_path / "outside.txt").exists()


def test_data_root_default_and_env(monkeypatch, tmp_path):
    monkeypatch.delenv("MINITORCH_CNN_DATA", raising=False)
    assert data.data_root() == Path(os.path.expanduser("~/.cache/minitorch_cnn"))
    monkeypatch.setenv("MINITORCH_CNN_DATA", str(tmp_path))
    assert data.data_root() == tmp_path
