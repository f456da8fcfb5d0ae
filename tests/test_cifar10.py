"""``keras.datasets.cifar10.load_data``: the places looked in, strict reading of the pickled batches, the checked
download into Keras's cache, and the errors.

CIFAR-10 itself cannot be reached from the test machines, so each test writes a tiny archive in the real
format (the folder ``cifar-10-batches-py`` with five training batches and a test batch, each a pickled dict
of uint8 ``data`` rows of 3072 bytes and a list of ``labels``, as the published ``cifar-10-python.tar.gz``),
with ``IMAGES`` images a batch, and lowers the loader's batch size to that. It is a fixture of the file
format, not a stand-in for the dataset. Keras's own batch reader (``keras.src.datasets.cifar.load_batch``)
is the reference for the layout. As in ``test_datasets.py``, ``KERAS_HOME`` is a temporary directory,
``FASTCONV_DATASETS`` is unset and downloads go to a closed port or a local server.
"""

import hashlib
import io
import os
import pathlib
import pickle
import re
import struct
import tarfile

import numpy as np
import pytest

from fastconv import datasets
from fastconv import keras as fastconv_keras
from keras_reference import keras
from test_datasets import _closed_port_url, _Server

IMAGES = 3
BATCHES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv(datasets.ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setattr(datasets, "CIFAR10_URL", _closed_port_url() + "cifar-10-python.tar.gz")
    monkeypatch.setattr(datasets, "_CIFAR10_BATCH_IMAGES", IMAGES)


def _batch(seed):
    rng = np.random.default_rng(seed)
    return {b"batch_label": f"batch {seed}".encode(), b"labels": [int(v) for v in rng.integers(0, 10, IMAGES)],
            b"data": rng.integers(0, 256, (IMAGES, 3072), dtype=np.uint8),
            b"filenames": [f"image_{seed}_{i}.png".encode() for i in range(IMAGES)]}


class _Python2Pickler(pickle._Pickler):
    """Protocol 2 with ``bytes`` written as Python 2's ``str`` (``BINSTRING``), as the published batches were
    written by Python 2's ``cPickle``: Python 3's protocol 2 would call ``_codecs.encode`` instead, a global
    that neither Keras's nor fastconv's unpickler allows."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_bytes(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_bytes


def _pickled(seed=None, batch=None):
    out = io.BytesIO()
    _Python2Pickler(out, protocol=2).dump(_batch(seed) if batch is None else batch)
    return out.getvalue()


def _write_folder(directory, overrides=None):
    """The folder ``cifar-10-batches-py`` under ``directory``; returns it."""
    folder = directory / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for seed, name in enumerate(BATCHES):
        (folder / name).write_bytes((overrides or {}).get(name, _pickled(seed)))
    (folder / "batches.meta").write_bytes(_pickled(batch={b"label_names": [b"airplane"] * 10}))
    (folder / "readme.html").write_bytes(b"<html></html>")
    return folder


def _write_archive(path):
    """The archive, as ``cifar-10-python.tar.gz`` is laid out; returns its path."""
    with tarfile.open(path, "w:gz") as archive:
        for seed, name in enumerate([*BATCHES, "batches.meta"]):
            data = _pickled(seed) if name != "batches.meta" else _pickled(batch={b"label_names": []})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _expected(folder):
    """What Keras's ``cifar10.load_data`` assembles from the batches in ``folder``, with Keras's batch reader."""
    from keras.src.datasets.cifar import load_batch

    def assemble(names):
        parts = [load_batch(os.path.join(folder, name)) for name in names]
        x = np.concatenate([data for data, _ in parts]).transpose(0, 2, 3, 1)
        y = np.concatenate([np.asarray(labels) for _, labels in parts]).astype(np.uint8).reshape(-1, 1)
        return x, y

    assert keras.backend.image_data_format() == "channels_last"
    return assemble(BATCHES[:5]), assemble(BATCHES[5:])


def _assert_loaded(loaded, expected):
    for ours, theirs in zip(sum(loaded, ()), sum(expected, ()), strict=True):
        assert ours.dtype == np.uint8 and ours.flags.c_contiguous
        np.testing.assert_array_equal(ours, theirs)
    (x_train, y_train), (x_test, y_test) = loaded
    assert x_train.shape == (5 * IMAGES, 32, 32, 3) and y_train.shape == (5 * IMAGES, 1)
    assert x_test.shape == (IMAGES, 32, 32, 3) and y_test.shape == (IMAGES, 1)


def test_layout_by_hand():
    """Row ``i`` of a batch is image ``i``: 1024 red, then green, then blue bytes, each row-major."""
    batch = _batch(0)
    with io.BytesIO(_pickled(batch=batch)) as f:
        data, labels = datasets._read_cifar10_batch(f, "a batch")
    image = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)[1]
    assert image[0, 1, 2] == batch[b"data"][1, 2 * 1024 + 1] and image[31, 0, 0] == batch[b"data"][1, 31 * 32]
    assert labels.dtype == np.uint8 and list(labels) == batch[b"labels"]


def test_path_to_the_folder_its_parent_or_the_archive(tmp_path):
    folder = _write_folder(tmp_path / "data")
    expected = _expected(folder)
    _assert_loaded(datasets.cifar10_load_data(path=folder), expected)
    _assert_loaded(datasets.cifar10_load_data(path=tmp_path / "data"), expected)
    archive = _write_archive(tmp_path / "cifar-10-python.tar.gz")
    _assert_loaded(datasets.cifar10_load_data(path=archive), expected)
    assert fastconv_keras.datasets.cifar10.load_data is datasets.cifar10_load_data


def test_environment_variable_then_keras_cache(tmp_path, monkeypatch):
    cache = tmp_path / "keras-home" / "datasets" / "cifar-10-batches-py-target"
    expected = _expected(_write_folder(cache))
    _assert_loaded(datasets.cifar10_load_data(), expected)
    monkeypatch.setenv(datasets.ENVIRONMENT_VARIABLE, str(tmp_path / "mine"))
    other = _write_folder(tmp_path / "mine", overrides={"test_batch": _pickled(99)})
    loaded = datasets.cifar10_load_data()
    _assert_loaded(loaded, _expected(other))
    assert not (loaded[1][0] == expected[1][0]).all()


def test_path_argument_is_the_only_place_looked_in(tmp_path):
    _write_folder(tmp_path / "keras-home" / "datasets" / "cifar-10-batches-py-target")
    (tmp_path / "empty").mkdir()
    message = ("CIFAR-10 not found. Looked for the batch files data_batch_1, data_batch_2, data_batch_3, "
               "data_batch_4, data_batch_5, test_batch (the folder cifar-10-batches-py of cifar-10-python.tar.gz) "
               f"in:\n  - the `path` argument: {tmp_path / 'empty'} (none of the files)\n"
               "Nothing was downloaded because `path` was given.")
    with pytest.raises(datasets.DatasetNotFoundError, match=re.escape(message)):
        datasets.cifar10_load_data(path=tmp_path / "empty")
    (tmp_path / "some").mkdir()
    (tmp_path / "some" / "data_batch_1").write_bytes(_pickled(0))
    with pytest.raises(FileNotFoundError, match=re.escape("(lacks data_batch_2, data_batch_3, data_batch_4, "
                                                          "data_batch_5, test_batch)")):
        datasets.cifar10_load_data(path=tmp_path / "some")
    (tmp_path / "not-an-archive.tar.gz").write_bytes(b"<html>moved</html>")
    with pytest.raises(ValueError, match=re.escape(f"Corrupt dataset file {tmp_path / 'not-an-archive.tar.gz'}. "
                                                   "Expected a directory or the archive cifar-10-python.tar.gz")):
        datasets.cifar10_load_data(path=tmp_path / "not-an-archive.tar.gz")
    data = _write_archive(tmp_path / "cifar-10-python.tar.gz").read_bytes()
    (tmp_path / "truncated.tar.gz").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=re.escape(f"Corrupt dataset file {tmp_path / 'truncated.tar.gz'}. ")):
        datasets.cifar10_load_data(path=tmp_path / "truncated.tar.gz")
    with pytest.raises(TypeError, match=re.escape("Invalid value for argument `path`. Expected a directory or the "
                                                  ".tar.gz archive (a str or os.PathLike). Received: path=3")):
        datasets.cifar10_load_data(path=3)


def test_offline_with_nothing_found_names_places_and_fixes(tmp_path):
    with pytest.raises(datasets.DatasetNotFoundError) as caught:
        datasets.cifar10_load_data()
    message = str(caught.value)
    cache = tmp_path / "keras-home" / "datasets"
    for part in ["  - $FASTCONV_DATASETS/cifar-10-batches-py: not set\n",
                 f"  - Keras's cache: {cache / 'cifar-10-batches-py-target'} (does not exist)\n",
                 f"Downloading {datasets.CIFAR10_URL} into {cache} failed:",
                 "To fix: connect to the internet", "pass `path=` a directory holding it (or the archive itself)"]:
        assert part in message
    assert not (cache / "cifar-10-batches-py-target_archive").exists()
    assert not list((cache / "cifar-10-batches-py-target" / "cifar-10-batches-py").iterdir())


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A tiny archive in the real format served where the loader downloads from."""
    (tmp_path / "served").mkdir()
    archive = _write_archive(tmp_path / "served" / "cifar-10-python.tar.gz")
    running = _Server(tmp_path / "served")
    monkeypatch.setattr(datasets, "CIFAR10_URL", running.url + archive.name)
    yield running
    running.close()


def test_download_into_keras_cache_then_read_from_it(server, tmp_path, monkeypatch, capsys):
    archive = server.directory / "cifar-10-python.tar.gz"
    data = archive.read_bytes()
    monkeypatch.setattr(datasets, "_CIFAR10_ARCHIVE", datasets._Remote(
        "cifar-10-python.tar.gz", len(data), hashlib.sha256(data).hexdigest()))
    loaded = datasets.cifar10_load_data()
    assert f"Downloading data from {datasets.CIFAR10_URL}" in capsys.readouterr().err
    cache = tmp_path / "keras-home" / "datasets"
    assert (cache / "cifar-10-batches-py-target_archive").read_bytes() == data  # where Keras keeps it
    folder = cache / "cifar-10-batches-py-target" / "cifar-10-batches-py"  # where Keras unpacks it
    assert sorted(p.name for p in folder.iterdir()) == sorted([*BATCHES, "batches.meta"])
    _assert_loaded(loaded, _expected(folder))
    server.close()
    _assert_loaded(datasets.cifar10_load_data(), _expected(folder))  # the second call reads the cache
    assert server.requests == ["/cifar-10-python.tar.gz"]
    # Keras's get_file, as keras.datasets.cifar10 calls it, finds the archive and does not download it again.
    found = keras.utils.get_file(fname="cifar-10-batches-py-target", origin=_closed_port_url(), extract=True,
                                 file_hash=hashlib.sha256(data).hexdigest(), cache_dir=str(tmp_path / "keras-home"))
    assert pathlib.Path(found) == folder.parent


def test_download_with_a_checksum_mismatch_is_discarded(server, tmp_path):
    size = (server.directory / "cifar-10-python.tar.gz").stat().st_size
    digest = hashlib.sha256((server.directory / "cifar-10-python.tar.gz").read_bytes()).hexdigest()
    message = (f"Checksum mismatch for {datasets.CIFAR10_URL}. Expected 170498071 bytes with SHA-256 "
               "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce. Received: "
               f"{size} bytes with SHA-256 {digest}. The download was discarded.")
    with pytest.raises(ValueError, match=re.escape(message)):
        datasets.cifar10_load_data()
    cache = tmp_path / "keras-home" / "datasets"
    assert sorted(p.name for p in cache.iterdir()) == ["cifar-10-batches-py-target"]  # no archive, no partial one
    assert not list((cache / "cifar-10-batches-py-target" / "cifar-10-batches-py").iterdir())


class _Shell:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


CORRUPTIONS = {
    "a pickle that runs code": (pickle.dumps({b"data": _Shell(), b"labels": []}),
                                "cannot be unpickled as one (it names `posix.system`"),
    "truncated": (_pickled(0)[:200], "a file that cannot be unpickled as one"),
    "not a dict": (pickle.dumps([1, 2, 3]), "Received: a list."),
    "images of another size": (pickle.dumps({b"data": np.zeros((IMAGES, 1024), np.uint8), b"labels": [0] * IMAGES}),
                               f"Received: data of type ndarray, dtype uint8 and shape ({IMAGES}, 1024)."),
    "float pixels": (pickle.dumps({b"data": np.zeros((IMAGES, 3072)), b"labels": [0] * IMAGES}),
                     "dtype float64"),
    "a label missing": (pickle.dumps({b"data": np.zeros((IMAGES, 3072), np.uint8), b"labels": [0] * (IMAGES - 1)}),
                        f"Received: labels of dtype int64 and shape ({IMAGES - 1},)."),
    "a label out of range": (pickle.dumps({b"data": np.zeros((IMAGES, 3072), np.uint8), b"labels": [0, 10, 0]}),
                             "Expected labels from 0 to 9. Received: label 10 at index 1."),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_corrupt_batch_is_an_error_naming_it(tmp_path, corruption, monkeypatch):
    data, received = CORRUPTIONS[corruption]
    folder = _write_folder(tmp_path / "data", overrides={"data_batch_3": data})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=re.escape(f"Corrupt dataset file {folder / 'data_batch_3'}.")) as caught:
        datasets.cifar10_load_data(path=folder)
    assert received in str(caught.value)
    assert not (tmp_path / "pwned.txt").exists()
