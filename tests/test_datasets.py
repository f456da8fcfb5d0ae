"""``fastconv.datasets``: the real Fashion-MNIST, every place it is looked for, strict reading, checked downloads.

The real data comes from Debian's ``dataset-fashion-mnist`` (``.ci/run``
installs it). Every test runs with ``KERAS_HOME`` in a temporary directory,
``FASTCONV_DATASETS`` unset and downloads pointed at a closed port on
127.0.0.1, so no test reads the user's cache or reaches the internet; the
download tests serve the published files, rebuilt from Debian's, from a local
``http.server``. Files written here (truncated, wrong magic number, a stand-in
``mnist.npz``) are test inputs, made from the real arrays.
"""

import dataclasses
import doctest
import functools
import gzip
import hashlib
import http.server
import inspect
import os
import pathlib
import re
import shutil
import socket
import threading

import numpy as np
import pytest

from fastconv import datasets

DEBIAN_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")
NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
KEYS = ["x_train", "y_train", "x_test", "y_test"]


def _closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No user cache, no environment variable, no internet; Debian's directory stays where it is."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv(datasets.ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setattr(datasets, "BASE_URL", _closed_port_url())


@pytest.fixture
def no_debian(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "SYSTEM_DIR", str(tmp_path / "no-system-datasets"))


@pytest.fixture(scope="module")
def real():
    """The real Fashion-MNIST arrays, ``{"x_train": ..., ...}``, read from Debian's package."""
    if not all((DEBIAN_DIR / f"{name}.gz").is_file() for name in NAMES):
        pytest.fail(f"Fashion-MNIST is not in {DEBIAN_DIR}: `apt-get install dataset-fashion-mnist` (as .ci/run does)")
    (x_train, y_train), (x_test, y_test) = datasets.fashion_mnist_load_data(path=DEBIAN_DIR)
    return dict(zip(KEYS, (x_train, y_train, x_test, y_test)))


@pytest.fixture(scope="module")
def raw_dir(real, tmp_path_factory):
    """The real arrays as uncompressed IDX files (quicker to read than gzip), written once."""
    directory = tmp_path_factory.mktemp("raw")
    _write_all_idx(directory, real, gz=False)
    return directory


def _copy_raw(raw_dir, directory):
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        shutil.copy(raw_dir / name, directory)
    return directory


def _assert_is_real(result, real):
    (x_train, y_train), (x_test, y_test) = result
    for key, array in zip(KEYS, (x_train, y_train, x_test, y_test)):
        assert array.dtype == np.uint8
        np.testing.assert_array_equal(array, real[key])


def _write_idx(path, array, magic=None, shape=None, gz=None, extra=b""):
    """Write ``array`` as an IDX file (gzipped when the name ends in .gz); ``magic``/``shape`` override the header."""
    magic = magic if magic is not None else (2051 if array.ndim == 3 else 2049)
    shape = shape if shape is not None else array.shape
    data = magic.to_bytes(4, "big") + np.asarray(shape, dtype=">i4").tobytes() + array.tobytes() + extra
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gz = path.suffix == ".gz" if gz is None else gz
    path.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
    return path


def _write_all_idx(directory, arrays, gz=True):
    for name, key in zip(NAMES, KEYS):
        _write_idx(pathlib.Path(directory) / (name + (".gz" if gz else "")), arrays[key])


def _copy_debian(directory):
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        shutil.copy(DEBIAN_DIR / f"{name}.gz", directory)
    return directory


# Debian's files are the published ones with the gzip header made reproducible (strip-nondeterminism drops the
# original file name and sets the time stamp to the package's date); the compressed data after the header are
# the published bytes. Putting back the name and the original time stamps below (found by trying time stamps
# until the MD5 matched) rebuilds the published files, as their MD5s in Fashion-MNIST's README (also in
# /usr/share/doc/dataset-fashion-mnist/README.md.gz) confirm.
PUBLISHED_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
PUBLISHED_MTIME = {  # the gzip MTIME field of each published file: 2017-08-31 10:50:06 and 10:50:27 UTC
    "train-images-idx3-ubyte.gz": 1504176606,
    "train-labels-idx1-ubyte.gz": 1504176606,
    "t10k-images-idx3-ubyte.gz": 1504176627,
    "t10k-labels-idx1-ubyte.gz": 1504176627,
}


@functools.cache
def _published_bytes(name):
    """The published ``name`` (a ``.gz`` file), rebuilt from Debian's copy: RFC 1952 header, then Debian's bytes."""
    debian = (DEBIAN_DIR / name).read_bytes()
    assert debian[:4] == b"\x1f\x8b\x08\x00", f"{name}: not a deflate gzip without a name field"
    header = (b"\x1f\x8b\x08\x08"                                # ID1, ID2, CM=deflate, FLG=FNAME
              + PUBLISHED_MTIME[name].to_bytes(4, "little")      # MTIME
              + debian[8:10]                                     # XFL, OS: kept by strip-nondeterminism
              + name.removesuffix(".gz").encode() + b"\0")      # FNAME
    return header + debian[10:]


def _copy_published(directory):
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        (directory / f"{name}.gz").write_bytes(_published_bytes(f"{name}.gz"))
    return directory


# ---------------------------------------------------------------------- the real data


def test_fashion_mnist_from_debian_package(real):
    (x_train, y_train), (x_test, y_test) = datasets.fashion_mnist_load_data()
    assert (x_train.shape, y_train.shape, x_test.shape, y_test.shape) == ((60000, 28, 28), (60000,),
                                                                          (10000, 28, 28), (10000,))
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    np.testing.assert_array_equal(y_train[:10], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
    np.testing.assert_array_equal(y_test[:10], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    assert x_train.min() == 0 and x_train.max() == 255
    assert x_train.flags.writeable and x_train.flags.c_contiguous


def test_each_call_returns_fresh_arrays(real):
    (x_train, _), _ = datasets.fashion_mnist_load_data()
    x_train[0, 0, 0] = 77
    (again, _), _ = datasets.fashion_mnist_load_data()
    assert again[0, 0, 0] == real["x_train"][0, 0, 0]


def test_shipped_sizes_and_digests_are_those_of_the_published_files(real):
    """``datasets._FASHION_MNIST.remotes`` against the real files: the published bytes, rebuilt from Debian's."""
    assert sorted(remote.name for remote in datasets._FASHION_MNIST.remotes) == sorted(PUBLISHED_MD5)
    for remote in datasets._FASHION_MNIST.remotes:
        published = _published_bytes(remote.name)
        assert hashlib.md5(published).hexdigest() == PUBLISHED_MD5[remote.name], remote.name  # truly rebuilt
        assert gzip.decompress(published) == gzip.decompress((DEBIAN_DIR / remote.name).read_bytes())
        assert (remote.size, remote.sha256) == (len(published), hashlib.sha256(published).hexdigest()), remote.name


def test_docstring_examples_run_on_the_installed_data():
    """pytest's --doctest-modules runs the examples of ``fastconv.datasets``; none may be skipped."""
    examples = [example for test in doctest.DocTestFinder().find(datasets) for example in test.examples]
    assert {test.name.rsplit(".", 1)[-1] for test in doctest.DocTestFinder().find(datasets) if test.examples} >= {
        "fashion_mnist_load_data", "mnist_load_data"}
    assert [example.source for example in examples if example.options.get(doctest.SKIP)] == []


def test_download_source_and_file_names_are_kerass():
    import keras_reference  # noqa: F401 (chooses Keras's torch backend before keras is imported)
    from keras.src.datasets import fashion_mnist, mnist

    fashion_source, mnist_source = inspect.getsource(fashion_mnist), inspect.getsource(mnist)
    base = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
    assert base in fashion_source and base in mnist_source
    assert os.path.join("datasets", "fashion-mnist") == datasets._FASHION_MNIST.download_subdir
    assert '"datasets", "fashion-mnist"' in fashion_source
    for remote in datasets._FASHION_MNIST.remotes:
        assert f'"{remote.name}"' in fashion_source
    (remote,) = datasets._MNIST.remotes
    assert remote.sha256 in mnist_source and remote.name == "mnist.npz"


# ---------------------------------------------------------------------- where the data is looked for


def test_keras_cache_under_keras_home(real, tmp_path, monkeypatch, no_debian):
    _copy_debian(tmp_path / "keras-home" / "datasets" / "fashion-mnist")
    _assert_is_real(datasets.fashion_mnist_load_data(), real)


def test_keras_cache_under_home_when_keras_home_is_unset(real, raw_dir, tmp_path, monkeypatch, no_debian):
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    _copy_raw(raw_dir, tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist")
    _assert_is_real(datasets.fashion_mnist_load_data(), real)


def test_environment_variable_subfolder_uncompressed_files(real, raw_dir, tmp_path, monkeypatch, no_debian):
    _copy_raw(raw_dir, tmp_path / "data" / "fashion-mnist")
    monkeypatch.setenv(datasets.ENVIRONMENT_VARIABLE, str(tmp_path / "data"))
    _assert_is_real(datasets.fashion_mnist_load_data(), real)


def test_files_directly_in_the_environment_variable_folder_are_not_used(real, tmp_path, monkeypatch, no_debian):
    # MNIST and Fashion-MNIST files have the same names: only the subfolder says which dataset they are.
    _copy_debian(tmp_path / "data")
    monkeypatch.setenv(datasets.ENVIRONMENT_VARIABLE, str(tmp_path / "data"))
    with pytest.raises(datasets.DatasetNotFoundError, match=re.escape(
            f"$FASTCONV_DATASETS/fashion-mnist: {tmp_path / 'data' / 'fashion-mnist'} (does not exist)")):
        datasets.fashion_mnist_load_data()


def test_lookup_order_environment_variable_then_keras_cache_then_debian(real, tmp_path, monkeypatch):
    # Three valid copies that differ (labels rolled by 1 and by 2) say which place was read.
    rolled = {shift: dict(real, y_train=(real["y_train"] + shift) % 10) for shift in (1, 2)}
    _write_all_idx(tmp_path / "data" / "fashion-mnist", rolled[1], gz=False)
    _write_all_idx(tmp_path / "keras-home" / "datasets" / "fashion-mnist", rolled[2], gz=False)
    monkeypatch.setenv(datasets.ENVIRONMENT_VARIABLE, str(tmp_path / "data"))
    (_, y_train), _ = datasets.fashion_mnist_load_data()
    np.testing.assert_array_equal(y_train, rolled[1]["y_train"])
    monkeypatch.delenv(datasets.ENVIRONMENT_VARIABLE)
    (_, y_train), _ = datasets.fashion_mnist_load_data()
    np.testing.assert_array_equal(y_train, rolled[2]["y_train"])
    shutil.rmtree(tmp_path / "keras-home")
    (_, y_train), _ = datasets.fashion_mnist_load_data()
    np.testing.assert_array_equal(y_train, real["y_train"])


def test_a_place_with_some_of_the_files_is_skipped(real, raw_dir, tmp_path, monkeypatch):
    cache = _copy_raw(raw_dir, tmp_path / "keras-home" / "datasets" / "fashion-mnist")
    (cache / "t10k-labels-idx1-ubyte").unlink()
    monkeypatch.setattr(datasets, "SYSTEM_DIR", str(tmp_path / "system"))
    _copy_raw(raw_dir, tmp_path / "system" / "fashion-mnist")
    _assert_is_real(datasets.fashion_mnist_load_data(), real)  # from the system directory


def test_path_argument_with_mixed_gz_and_raw_files(real, raw_dir, tmp_path):
    mine = _copy_raw(raw_dir, tmp_path / "mine")
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (mine / name).unlink()
        shutil.copy(DEBIAN_DIR / f"{name}.gz", mine)
    _assert_is_real(datasets.fashion_mnist_load_data(path=mine), real)
    _assert_is_real(datasets.fashion_mnist_load_data(path=str(mine)), real)


def test_gzip_is_recognised_by_content_not_name(real, raw_dir, tmp_path):
    mine = _copy_raw(raw_dir, tmp_path / "mine")
    shutil.copy(DEBIAN_DIR / "t10k-images-idx3-ubyte.gz", mine / "t10k-images-idx3-ubyte")  # gzip, no .gz
    _write_idx(mine / "t10k-labels-idx1-ubyte.gz", real["y_test"], gz=False)  # .gz, not gzip
    (mine / "t10k-labels-idx1-ubyte").unlink()
    _assert_is_real(datasets.fashion_mnist_load_data(path=mine), real)


def test_path_argument_is_the_only_place_looked_in(real, tmp_path):
    (tmp_path / "empty").mkdir()
    message = (f"Fashion-MNIST not found. Looked for the IDX files train-images-idx3-ubyte[.gz], "
               f"train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz] in:\n"
               f"  - the `path` argument: {tmp_path / 'empty'} (none of the files)\n"
               f"Nothing was downloaded because `path` was given.")
    with pytest.raises(datasets.DatasetNotFoundError, match=re.escape(message)):
        datasets.fashion_mnist_load_data(path=tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'nowhere'} (does not exist)")):
        datasets.fashion_mnist_load_data(path=tmp_path / "nowhere")


def test_path_argument_of_a_wrong_type():
    with pytest.raises(TypeError, match=re.escape(
            "Invalid value for argument `path`. Expected a directory (a str or os.PathLike). Received: path=3")):
        datasets.fashion_mnist_load_data(path=3)


# ---------------------------------------------------------------------- offline, nothing found


def test_offline_with_nothing_found_names_files_places_and_fixes(tmp_path, monkeypatch, no_debian):
    monkeypatch.setenv(datasets.ENVIRONMENT_VARIABLE, str(tmp_path / "data"))
    with pytest.raises(datasets.DatasetNotFoundError) as caught:
        datasets.fashion_mnist_load_data()
    assert isinstance(caught.value, FileNotFoundError)
    message = str(caught.value)
    for name in NAMES:
        assert f"{name}[.gz]" in message
    cache = tmp_path / "keras-home" / "datasets" / "fashion-mnist"
    for place in [f"$FASTCONV_DATASETS/fashion-mnist: {tmp_path / 'data' / 'fashion-mnist'} (does not exist)",
                  f"Keras's cache: {cache} (does not exist)",
                  f"Debian's dataset-fashion-mnist package: {tmp_path / 'no-system-datasets' / 'fashion-mnist'}",
                  f"Downloading {datasets.BASE_URL}train-labels-idx1-ubyte.gz into {cache} failed:",
                  "`apt-get install dataset-fashion-mnist`", "pass `path=` a directory"]:
        assert place in message
    assert not list(cache.iterdir())  # no partial download left behind


def test_offline_message_says_when_the_environment_variable_is_not_set(no_debian):
    with pytest.raises(datasets.DatasetNotFoundError, match=re.escape("  - $FASTCONV_DATASETS: not set\n")):
        datasets.fashion_mnist_load_data()


# ---------------------------------------------------------------------- corrupt files


def _gz_truncated(path, real):
    data = (DEBIAN_DIR / "train-images-idx3-ubyte.gz").read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _gz_damaged(path, real):
    data = bytearray((DEBIAN_DIR / "train-images-idx3-ubyte.gz").read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "bad magic": (lambda p, r: _write_idx(p, r["x_train"], magic=2049), "Received: magic number 2049"),
    "labels file for images": (lambda p, r: _write_idx(p, r["y_train"]), "Received: magic number 2049"),
    "wrong dims": (lambda p, r: _write_idx(p, r["x_train"][:-1], shape=(59999, 28, 28)),
                   "Received: shape (59999, 28, 28)"),
    "truncated data": (lambda p, r: p.write_bytes(p.read_bytes()[:-1000]),
                       "Received: 47039000 of the 47040000 data bytes (the file is truncated)"),
    "truncated gzipped data": (lambda p, r: p.write_bytes(gzip.compress(p.read_bytes()[:16 + 78400])),
                               "Received: 78400 of the 47040000 data bytes (the file is truncated)"),
    "truncated header": (lambda p, r: p.write_bytes(gzip.compress(b"\x00\x00\x08\x03\x00\x00")),
                         "Received: a truncated header"),
    "empty": (lambda p, r: p.write_bytes(b""), "Received: a file of 0 bytes"),
    "trailing bytes": (lambda p, r: p.write_bytes(p.read_bytes() + b"\x00"), "Received: more bytes after"),
    "truncated gzip": (_gz_truncated, "Received: a damaged gzip stream"),
    "damaged gzip": (_gz_damaged, "Received: a damaged gzip stream"),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_corrupt_file_is_an_error_naming_it(real, raw_dir, tmp_path, corruption):
    make, received = CORRUPTIONS[corruption]
    bad = _copy_raw(raw_dir, tmp_path / "mine") / "train-images-idx3-ubyte"
    make(bad, real)
    expected = (f"Corrupt dataset file {bad}. Expected an IDX file with magic number 2051 and shape "
                f"(60000, 28, 28). {received}")
    with pytest.raises(ValueError, match=re.escape(expected)):
        datasets.fashion_mnist_load_data(path=tmp_path / "mine")


def test_label_out_of_range_is_an_error(real, raw_dir, tmp_path):
    _copy_raw(raw_dir, tmp_path / "mine")
    labels = real["y_test"].copy()
    labels[17] = 10
    bad = _write_idx(tmp_path / "mine" / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(ValueError, match=re.escape(f"Corrupt dataset file {bad}. Expected labels from 0 to 9. "
                                                   f"Received: label 10 at index 17.")):
        datasets.fashion_mnist_load_data(path=tmp_path / "mine")


def test_corrupt_file_in_an_earlier_place_is_not_skipped(real, raw_dir, tmp_path):
    # Debian's copy is there, but the broken cache is reported rather than silently passed over.
    cache = _copy_raw(raw_dir, tmp_path / "keras-home" / "datasets" / "fashion-mnist")
    _write_idx(cache / "t10k-images-idx3-ubyte", real["x_test"], magic=1234)
    with pytest.raises(ValueError, match=re.escape(f"Corrupt dataset file {cache / 't10k-images-idx3-ubyte'}")):
        datasets.fashion_mnist_load_data()


# ---------------------------------------------------------------------- downloads (from 127.0.0.1)


class _Server:
    """A local ``http.server`` over a directory, recording the paths it was asked for."""

    def __init__(self, directory):
        self.directory, self.requests = pathlib.Path(directory), []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=directory))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """The four published files served at ``datasets.BASE_URL``; nothing in any place looked in."""
    served = _copy_published(tmp_path / "served")
    running = _Server(served)
    monkeypatch.setattr(datasets, "BASE_URL", running.url)
    monkeypatch.setattr(datasets, "SYSTEM_DIR", str(tmp_path / "no-system-datasets"))
    yield running
    running.close()


def _published_as(monkeypatch, directory, dataset_name):
    """Make the checksums that ``datasets`` checks against those of the files in ``directory`` (for a stand-in)."""
    dataset = getattr(datasets, dataset_name)
    remotes = tuple(dataclasses.replace(remote, size=(pathlib.Path(directory) / remote.name).stat().st_size,
                                        sha256=hashlib.sha256((pathlib.Path(directory) / remote.name)
                                                              .read_bytes()).hexdigest())
                    for remote in dataset.remotes)
    monkeypatch.setattr(datasets, dataset_name, dataclasses.replace(dataset, remotes=remotes))


def test_download_into_keras_cache_when_nothing_is_found(real, server, tmp_path, capsys):
    _assert_is_real(datasets.fashion_mnist_load_data(), real)
    cache = tmp_path / "keras-home" / "datasets" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{name}.gz" for name in NAMES)
    for name in NAMES:
        assert (cache / f"{name}.gz").read_bytes() == (server.directory / f"{name}.gz").read_bytes()
    assert sorted(server.requests) == sorted(f"/{name}.gz" for name in NAMES)
    assert f"Downloading data from {server.url}train-images-idx3-ubyte.gz" in capsys.readouterr().err

    server.close()  # the second call reads the cache
    _assert_is_real(datasets.fashion_mnist_load_data(), real)


def test_download_fetches_only_the_files_the_cache_lacks(real, server, tmp_path):
    cache = tmp_path / "keras-home" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    shutil.copy(server.directory / "train-images-idx3-ubyte.gz", cache)
    _assert_is_real(datasets.fashion_mnist_load_data(), real)
    assert "/train-images-idx3-ubyte.gz" not in server.requests and len(server.requests) == 3


def test_download_with_a_checksum_mismatch_is_discarded(server, tmp_path):
    # Debian's copy holds the same data, but its gzip header differs from the published file's.
    cache = tmp_path / "keras-home" / "datasets" / "fashion-mnist"
    first = datasets._FASHION_MNIST.remotes[0]
    shutil.copy(DEBIAN_DIR / first.name, server.directory)
    size = (server.directory / first.name).stat().st_size
    digest = hashlib.sha256((server.directory / first.name).read_bytes()).hexdigest()
    message = (f"Checksum mismatch for {server.url}{first.name}. Expected {first.size} bytes with SHA-256 "
               f"{first.sha256}. Received: {size} bytes with SHA-256 {digest}. The download was discarded.")
    with pytest.raises(ValueError, match=re.escape(message)):
        datasets.fashion_mnist_load_data()
    assert not list(cache.iterdir())  # neither the file nor a partial one


def test_download_larger_than_published_is_cut_off(server, tmp_path):
    first = datasets._FASHION_MNIST.remotes[0]
    with open(server.directory / first.name, "ab") as f:
        f.write(bytes(3 * (1 << 20)))
    with pytest.raises(ValueError, match=re.escape(f"Received: more than {first.size} bytes.")):
        datasets.fashion_mnist_load_data()
    assert not list((tmp_path / "keras-home" / "datasets" / "fashion-mnist").iterdir())


def test_download_http_error_is_not_found(server, tmp_path):
    (server.directory / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(datasets.DatasetNotFoundError, match=re.escape(
            f"Downloading {server.url}t10k-images-idx3-ubyte.gz into "
            f"{tmp_path / 'keras-home' / 'datasets' / 'fashion-mnist'} failed: HTTP Error 404")):
        datasets.fashion_mnist_load_data()
    # The files that did arrive were verified and stay for the next call.
    cache = tmp_path / "keras-home" / "datasets" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == ["t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                                                       "train-labels-idx1-ubyte.gz"]


def test_nothing_is_downloaded_when_path_is_given(server, tmp_path):
    with pytest.raises(datasets.DatasetNotFoundError):
        datasets.fashion_mnist_load_data(path=tmp_path / "nowhere")
    assert server.requests == []


# ---------------------------------------------------------------------- MNIST (Keras's mnist.npz)


@pytest.fixture(scope="module")
def npz_bytes(real, tmp_path_factory):
    """An ``.npz`` in Keras's mnist.npz layout. MNIST itself is not installed here: the arrays are Fashion-MNIST's."""
    path = tmp_path_factory.mktemp("npz") / "mnist.npz"
    np.savez(path, **real)
    return path.read_bytes()


def test_mnist_from_keras_cache_npz(real, tmp_path, npz_bytes):
    (tmp_path / "keras-home" / "datasets").mkdir(parents=True)
    (tmp_path / "keras-home" / "datasets" / "mnist.npz").write_bytes(npz_bytes)
    _assert_is_real(datasets.mnist_load_data(), real)
    _assert_is_real(datasets.mnist_load_data(path="mnist.npz"), real)  # Keras's meaning: a name in the cache


def test_mnist_from_environment_variable_and_path(real, raw_dir, tmp_path, monkeypatch, npz_bytes):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mnist.npz").write_bytes(npz_bytes)
    monkeypatch.setenv(datasets.ENVIRONMENT_VARIABLE, str(tmp_path / "data"))
    _assert_is_real(datasets.mnist_load_data(), real)
    _assert_is_real(datasets.mnist_load_data(path=tmp_path / "data" / "mnist.npz"), real)
    _assert_is_real(datasets.mnist_load_data(path=tmp_path / "data"), real)
    _assert_is_real(datasets.mnist_load_data(path=raw_dir), real)


def test_mnist_is_never_read_from_fashion_mnist_places(tmp_path, monkeypatch):
    _copy_debian(tmp_path / "keras-home" / "datasets" / "fashion-mnist")
    monkeypatch.setenv(datasets.ENVIRONMENT_VARIABLE, str(tmp_path / "data"))
    _copy_debian(tmp_path / "data" / "fashion-mnist")
    with pytest.raises(datasets.DatasetNotFoundError) as caught:
        datasets.mnist_load_data()
    message = str(caught.value)
    datasets_dir = tmp_path / "keras-home" / "datasets"
    for place in [f"$FASTCONV_DATASETS/mnist: {tmp_path / 'data' / 'mnist'} (does not exist)",
                  f"$FASTCONV_DATASETS: {tmp_path / 'data'} (no mnist.npz)",
                  f"Keras's cache: {datasets_dir} (no mnist.npz)",
                  f"Keras's cache: {datasets_dir / 'mnist'} (does not exist)",
                  f"Downloading {datasets.BASE_URL}mnist.npz into {datasets_dir} failed"]:
        assert place in message
    assert "apt-get" not in message  # Debian has no MNIST package


def test_mnist_download(real, tmp_path, monkeypatch, npz_bytes):
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "mnist.npz").write_bytes(npz_bytes)
    running = _Server(tmp_path / "served")
    try:
        monkeypatch.setattr(datasets, "BASE_URL", running.url)
        published = ("Expected 11490434 bytes with SHA-256 "
                     "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1")
        with pytest.raises(ValueError, match=f"Checksum mismatch for .*mnist.npz. {published}"):
            datasets.mnist_load_data()
        _published_as(monkeypatch, tmp_path / "served", "_MNIST")
        _assert_is_real(datasets.mnist_load_data(), real)
    finally:
        running.close()
    assert (tmp_path / "keras-home" / "datasets" / "mnist.npz").read_bytes() == npz_bytes
    assert sorted(p.name for p in (tmp_path / "keras-home" / "datasets").iterdir()) == ["mnist.npz"]


def _npz_with(path, real, **changes):
    arrays = dict(real, **changes)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


@pytest.mark.parametrize("corruption, received", [
    ("missing array", "Received: arrays x_train, y_train, x_test"),
    ("wrong dtype", "Received: x_train of dtype float32 and shape (60000, 28, 28)"),
    ("wrong shape", "Received: y_test of dtype uint8 and shape (9999,)"),
    ("truncated", "Received: a file that cannot be read as one"),
    ("not a zip", "Received: a file that cannot be read as one"),
    ("single npy", "Received: a single array of shape (3,)"),
    ("label out of range", "Received: label 12 at index 0"),
])
def test_corrupt_npz_is_an_error_naming_it(real, tmp_path, corruption, received):
    path = tmp_path / "mnist.npz"
    if corruption == "missing array":
        _npz_with(path, real, y_test=None)
    elif corruption == "wrong dtype":
        _npz_with(path, real, x_train=real["x_train"].astype(np.float32))
    elif corruption == "wrong shape":
        _npz_with(path, real, y_test=real["y_test"][1:])
    elif corruption == "truncated":
        _npz_with(path, real)
        path.write_bytes(path.read_bytes()[:-5000])
    elif corruption == "not a zip":
        path.write_bytes(b"not a zip file at all")
    elif corruption == "single npy":
        with open(path, "wb") as f:
            np.save(f, np.arange(3))
    elif corruption == "label out of range":
        labels = real["y_train"].copy()
        labels[0] = 12
        _npz_with(path, real, y_train=labels)
    with pytest.raises(ValueError, match=re.escape(f"Corrupt dataset file {path}. Expected ") + ".*"
                       + re.escape(received)):
        datasets.mnist_load_data(path=path)
