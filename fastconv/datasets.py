"""The real Fashion-MNIST, MNIST and CIFAR-10 for ``keras.datasets``: find the files, read them strictly, or
download them.

What lives here: ``fashion_mnist_load_data``, ``mnist_load_data`` and ``cifar10_load_data``
(exposed as ``keras.datasets.fashion_mnist.load_data`` and so on), the places
they look in, the readers of the file formats (IDX, gzipped or not, Keras's
``mnist.npz``, and CIFAR-10's pickled batches, unpickled with numpy's arrays
as the only globals allowed) and the checksummed download into Keras's cache.
CIFAR-10's places and archive are described in :func:`cifar10_load_data`; the
list below is MNIST's and Fashion-MNIST's.
What does not: any change to the data (scaling, reshaping, splitting), which
belongs to the user's program as it does with Keras; and any made-up data: when
the real files cannot be found or read, loading fails with an error that says
where it looked and what to do.

Where the data is looked for, in this order (the first place that holds every
file wins):

1. ``path=``, when given: a directory holding the files (for MNIST also the
   ``.npz`` file itself). Only that place is looked at, and nothing is downloaded.
2. ``$FASTCONV_DATASETS/fashion-mnist/`` and ``$FASTCONV_DATASETS/mnist/`` (or
   ``$FASTCONV_DATASETS/mnist.npz``). The files must be in the subfolder: the
   IDX files of MNIST and Fashion-MNIST have the same names, so a folder holding
   them directly could not say which dataset they are.
3. Keras's cache, ``$KERAS_HOME/datasets`` (``~/.keras/datasets`` when
   ``KERAS_HOME`` is not set): ``fashion-mnist/`` with the four IDX files, as
   Keras stores them; ``mnist.npz``, as Keras stores MNIST, or ``mnist/``.
4. ``/usr/share/datasets/fashion-mnist/``, where Debian's ``dataset-fashion-mnist``
   package puts the files (Debian has no MNIST package).

The IDX files are ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each gzipped (``.gz``)
or not. When none of those places holds the data, the files Keras would download
are downloaded from the same source into Keras's cache, so Keras and fastconv
never download them twice; each is checked against its published SHA-256 before
it is renamed into place.
"""

import dataclasses
import functools
import gzip
import hashlib
import http.client
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
import zlib

import numpy as np

from fastconv.files import atomic_write

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
"""Where Keras downloads Fashion-MNIST and MNIST from (``keras/src/datasets/fashion_mnist.py`` and ``mnist.py``)."""

ENVIRONMENT_VARIABLE = "FASTCONV_DATASETS"
"""A directory with a ``fashion-mnist`` and/or ``mnist`` subfolder, looked in before Keras's cache."""

SYSTEM_DIR = "/usr/share/datasets"
"""Where Debian's dataset packages put their files (``dataset-fashion-mnist``: ``fashion-mnist/``)."""

_DOWNLOAD_TIMEOUT_S = 60
_CHUNK = 1 << 20
_DRAIN_CHUNKS = 64

_IMAGES_MAGIC = 2051
"""IDX magic number of unsigned-byte data with 3 dimensions (0x00000803)."""

_LABELS_MAGIC = 2049
"""IDX magic number of unsigned-byte data with 1 dimension (0x00000801)."""


class DatasetNotFoundError(FileNotFoundError):
    """No place holds the dataset's files, and they could not be downloaded (or downloading was not asked for)."""


@dataclasses.dataclass(frozen=True)
class _Array:
    """One of the four arrays: its IDX file name (without ``.gz``), its ``.npz`` key and its shape."""

    idx_name: str
    npz_key: str
    shape: tuple

    @property
    def magic(self):
        return _IMAGES_MAGIC if len(self.shape) == 3 else _LABELS_MAGIC


_ARRAYS = (
    _Array("train-images-idx3-ubyte", "x_train", (60000, 28, 28)),
    _Array("train-labels-idx1-ubyte", "y_train", (60000,)),
    _Array("t10k-images-idx3-ubyte", "x_test", (10000, 28, 28)),
    _Array("t10k-labels-idx1-ubyte", "y_test", (10000,)),
)
"""MNIST and Fashion-MNIST share file names, shapes and 10 classes."""

_N_CLASSES = 10


@dataclasses.dataclass(frozen=True)
class _Remote:
    """A file at ``BASE_URL``: its name, size in bytes and SHA-256."""

    name: str
    size: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class _Place:
    """A directory to look in, and what may be there: the IDX files, an ``.npz`` file, or both."""

    label: str
    directory: str  # None: an unset environment variable, listed only to say so
    idx: bool = True
    npz: str = None


@dataclasses.dataclass(frozen=True)
class _Dataset:
    """One dataset: its names, the places it is looked for in, and what to download where.

    ``subdir`` is the folder name under ``$FASTCONV_DATASETS``, Keras's cache
    and ``SYSTEM_DIR``; ``npz`` the name of Keras's single-file cache (MNIST
    only); ``remotes`` the files Keras downloads, into ``download_subdir`` of
    Keras's home.
    """

    title: str
    subdir: str
    npz: str
    system_package: str
    remotes: tuple
    download_subdir: str

    def load(self, path=None):
        """``(x_train, y_train), (x_test, y_test)``, found (or downloaded) and checked; see the module docstring."""
        if path is not None:
            places = [self._place_from_argument(path)]
        else:
            places = self._default_places()
        misses = []
        for place in places:
            found, why_not = self._probe(place)
            if found is not None:
                return _read(found)
            misses.append(f"{place.label}: {why_not}" if place.directory is None
                          else f"{place.label}: {place.directory} ({why_not})")
        if path is not None:
            raise DatasetNotFoundError(self._not_found_message(misses, download_error=None, explicit=True))

        directory = os.path.join(_keras_home_for_writing(), self.download_subdir)
        try:
            self._download(directory)
        except _DownloadFailed as error:
            raise DatasetNotFoundError(self._not_found_message(misses, download_error=error)) from error.__cause__
        found, why_not = self._probe(self._download_place(directory))
        if found is None:  # only if someone deletes the files between the download and this line
            raise DatasetNotFoundError(f"{self.title} was downloaded into {directory}, but then {why_not}.")
        return _read(found)

    # ------------------------------------------------------------------ places

    def _place_from_argument(self, path):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"Invalid value for argument `path`. Expected a directory (a str or os.PathLike)"
                            f"{' or an .npz file' if self.npz else ''}. Received: path={path!r}")
        path = os.path.expanduser(os.fspath(path))
        if self.npz and os.path.isfile(path):
            return _Place("the `path` argument", os.path.dirname(path) or ".", idx=False,
                          npz=os.path.basename(path))
        if self.npz and not os.path.exists(path) and os.path.basename(path) == path and path.endswith(".npz"):
            # Keras's meaning of mnist.load_data(path="mnist.npz"): a file name in Keras's cache.
            return _Place("the `path` argument, a file name in Keras's cache",
                          os.path.join(_keras_home(), "datasets"), idx=False, npz=path)
        return _Place("the `path` argument", path, npz=self.npz)

    def _default_places(self):
        places = []
        root = os.environ.get(ENVIRONMENT_VARIABLE)
        if not root:
            places.append(_Place(f"${ENVIRONMENT_VARIABLE}", None))
        else:
            root = os.path.expanduser(root)
            places.append(_Place(f"${ENVIRONMENT_VARIABLE}/{self.subdir}", os.path.join(root, self.subdir),
                                 npz=self.npz))
            if self.npz:
                places.append(_Place(f"${ENVIRONMENT_VARIABLE}", root, idx=False, npz=self.npz))
        for home in _keras_homes_for_reading():
            datasets = os.path.join(home, "datasets")
            if self.npz:
                places.append(_Place("Keras's cache", datasets, idx=False, npz=self.npz))
            places.append(_Place("Keras's cache", os.path.join(datasets, self.subdir), npz=self.npz))
        if self.system_package:
            places.append(_Place(f"Debian's {self.system_package} package", os.path.join(SYSTEM_DIR, self.subdir)))
        return places

    def _download_place(self, directory):
        if self.npz:
            return _Place("Keras's cache", directory, idx=False, npz=self.npz)
        return _Place("Keras's cache", directory)

    def _probe(self, place):
        """``(("npz", path) or ("idx", [four paths]), None)`` when ``place`` holds the data, else ``(None, why)``."""
        if place.directory is None:
            return None, "not set"
        if not os.path.isdir(place.directory):
            return None, "does not exist" if not os.path.exists(place.directory) else "not a directory"
        if place.npz:
            npz_path = os.path.join(place.directory, place.npz)
            if os.path.isfile(npz_path):
                return ("npz", npz_path), None
        if not place.idx:
            return None, f"no {place.npz}"
        paths, missing = [], []
        for array in _ARRAYS:
            candidates = [os.path.join(place.directory, array.idx_name + suffix) for suffix in (".gz", "")]
            existing = [candidate for candidate in candidates if os.path.isfile(candidate)]
            if existing:
                paths.append(existing[0])
            else:
                missing.append(array.idx_name + "[.gz]")
        if not missing:
            return ("idx", paths), None
        what = "none of the files" if len(missing) == len(_ARRAYS) else "lacks " + ", ".join(missing)
        return None, (what if not place.npz else f"no {place.npz} and {what}")

    def _not_found_message(self, misses, download_error, explicit=False):
        files = ", ".join(array.idx_name + "[.gz]" for array in _ARRAYS)
        wanted = f"{self.npz} (Keras's file) or the IDX files {files}" if self.npz else f"the IDX files {files}"
        places = "\n".join(f"  - {miss}" for miss in misses) or "  (no place)"
        lines = [f"{self.title} not found. Looked for {wanted} in:", places]
        if explicit:
            lines.append("Nothing was downloaded because `path` was given. To fix: pass `path=` a directory "
                         "holding the files, or leave `path` out to look in the usual places and download.")
            return "\n".join(lines)
        lines.append(str(download_error))
        fixes = []
        if self.system_package:
            fixes.append(f"`apt-get install {self.system_package}` (Debian, Ubuntu)")
        fixes += ["connect to the internet and call again (the files go into Keras's cache)",
                  "copy the files into one of the places above",
                  "or pass `path=` a directory holding them"]
        lines.append("To fix: " + ", ".join(fixes) + ".")
        return "\n".join(lines)

    # ------------------------------------------------------------------ download

    def _download(self, directory):
        """Download the files that ``directory`` lacks (an interrupted call leaves only verified ones)."""
        for remote in self.remotes:
            url, target = BASE_URL + remote.name, os.path.join(directory, remote.name)
            if os.path.exists(target):
                continue
            try:
                os.makedirs(directory, exist_ok=True)
                _download_verified(url, target, remote)
            except (OSError, http.client.HTTPException) as error:
                raise _DownloadFailed(f"Downloading {url} into {directory} failed: {error}") from error


class _DownloadFailed(Exception):
    """A download that did not complete (network, HTTP or disk error); turned into ``DatasetNotFoundError``."""


def _download_verified(url, target, remote):
    """Download ``url`` to ``target`` atomically: into a file beside it, checked against ``remote``, then renamed.

    Raises ``ValueError`` when the bytes are not the published ones; nothing is
    left behind then (nor after any other error or an interrupt).
    """
    print(f"Downloading data from {url}", file=sys.stderr)
    digest, size = hashlib.sha256(), 0
    # An error inside the block (the checksum's included) leaves no file behind: see fastconv.files.
    with atomic_write(target) as out, urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
        while chunk := response.read(_CHUNK):
            size += len(chunk)
            if size > remote.size:
                break
            digest.update(chunk)
            out.write(chunk)
        if size != remote.size or digest.hexdigest() != remote.sha256:
            received = f"more than {remote.size} bytes" if size > remote.size else \
                f"{size} bytes with SHA-256 {digest.hexdigest()}"
            raise ValueError(f"Checksum mismatch for {url}. Expected {remote.size} bytes with SHA-256 "
                             f"{remote.sha256}. Received: {received}. The download was discarded. Try again "
                             f"later, or install the files yourself (see fastconv's docs/datasets.md).")


def _keras_home():
    """Keras's home directory, as Keras finds it: ``$KERAS_HOME``, else ``~/.keras``."""
    return os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))


def _writable(directory):
    """Whether ``directory`` can be written to, or created where it does not exist yet."""
    while not os.path.exists(directory):
        parent = os.path.dirname(directory)
        if parent == directory:
            return False
        directory = parent
    return os.access(directory, os.W_OK)


def _keras_fallback_home():
    """Where Keras's ``get_file`` downloads when its home cannot be written to."""
    return os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")


def _keras_homes_for_reading():
    home = _keras_home()
    return [home] if _writable(home) else [home, _keras_fallback_home()]


def _keras_home_for_writing():
    home = _keras_home()
    return home if _writable(home) else _keras_fallback_home()


# ---------------------------------------------------------------------- reading


def _read(found):
    kind, where = found
    if kind == "npz":
        return _read_npz(where)
    x_train, y_train, x_test, y_test = (_read_idx(path, array) for path, array in zip(where, _ARRAYS))
    return (x_train, y_train), (x_test, y_test)


class _CorruptFileError(ValueError):
    """A dataset file that is not what it should be (raised as ``ValueError``, the Keras-style type)."""


def _corrupt(path, expected, received):
    return _CorruptFileError(f"Corrupt dataset file {path}. Expected {expected}. Received: {received}. Delete or "
                      f"replace the file (a download, or `apt-get install --reinstall` of the package it came "
                      f"from, gives the original).")


def _read_idx(path, array):
    """The array in the IDX file at ``path`` (gzipped or not), checked against ``array``'s magic number and shape.

    IDX: a big-endian int32 magic number (``0x0000 08 nd``: unsigned bytes,
    ``nd`` dimensions), ``nd`` big-endian int32 sizes, then the bytes in C order.
    """
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == b"\x1f\x8b"
    expected = f"an IDX file with magic number {array.magic} and shape {array.shape}"
    try:
        with (gzip.open if is_gzip else open)(path, "rb") as f:
            header = _read_exactly(f, 4)
            magic = int.from_bytes(header, "big") if len(header) == 4 else None
            if magic != array.magic:
                raise _corrupt(path, expected, f"magic number {magic}" if magic is not None
                               else f"a file of {len(header)} bytes")
            dims = _read_exactly(f, 4 * len(array.shape))
            if len(dims) != 4 * len(array.shape):
                raise _corrupt(path, expected, "a truncated header")
            shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">i4"))
            if shape != array.shape:
                raise _corrupt(path, expected, f"shape {shape}")
            data = np.empty(array.shape, dtype=np.uint8)
            n = _readinto_exactly(f, data)
            if n != data.size:
                raise _corrupt(path, expected, f"{n} of the {data.size} data bytes (the file is truncated)")
            if f.read(1):
                # A damaged gzip stream can inflate to too many bytes: let gzip's own check say so first.
                for _ in range(_DRAIN_CHUNKS):
                    if not f.read(_CHUNK):
                        break
                raise _corrupt(path, expected, "more bytes after the data")
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise _corrupt(path, expected, f"a damaged gzip stream ({error})") from error
    if data.ndim == 1:
        _check_labels(path, data)
    return data


def _read_exactly(f, n):
    """Up to ``n`` bytes from ``f``: fewer only at the end of the file."""
    chunks, left = [], n
    while left:
        chunk = f.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _readinto_exactly(f, array):
    """Fill ``array`` from ``f`` without an intermediate copy; the number of bytes read (short only at EOF)."""
    view, filled = memoryview(array).cast("B"), 0
    while filled < len(view):
        n = f.readinto(view[filled:])
        if not n:
            break
        filled += n
    return filled


def _check_labels(path, labels):
    if labels.size and labels.max() >= _N_CLASSES:
        index = int(np.argmax(labels >= _N_CLASSES))
        raise _corrupt(path, f"labels from 0 to {_N_CLASSES - 1}", f"label {labels[index]} at index {index}")


def _read_npz(path):
    """Keras's ``mnist.npz``: arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``, checked for dtype and shape."""
    keys = ", ".join(f"{array.npz_key} {array.shape}" for array in _ARRAYS)
    expected = f"an .npz file (as Keras's mnist.npz) with uint8 arrays {keys}"
    wanted = [array.npz_key for array in _ARRAYS]
    try:
        loaded = np.load(path, allow_pickle=False)
        if not hasattr(loaded, "files"):  # a single .npy array
            raise _corrupt(path, expected, f"a single array of shape {loaded.shape}")
        with loaded:
            names = loaded.files
            arrays = {key: loaded[key] for key in wanted if key in names}
    except (zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise _corrupt(path, expected, f"a file that cannot be read as one ({error})") from error
    except ValueError as error:  # numpy's word for "neither .npy nor .npz" (it would have to unpickle)
        if isinstance(error, _CorruptFileError):
            raise
        raise _corrupt(path, expected, f"a file that cannot be read as one ({error})") from error
    if len(arrays) < len(wanted):
        raise _corrupt(path, expected, f"arrays {', '.join(names) or 'none'}")
    for array in _ARRAYS:
        value = arrays[array.npz_key]
        if value.dtype != np.uint8 or value.shape != array.shape:
            raise _corrupt(path, expected, f"{array.npz_key} of dtype {value.dtype} and shape {value.shape}")
        if value.ndim == 1:
            _check_labels(path, value)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


# ---------------------------------------------------------------------- the datasets

# Fashion-MNIST's SHA-256 digests are those of the upstream files (whose MD5s the
# Fashion-MNIST README publishes: 8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...),
# as TensorFlow Datasets records them; Keras's copies at BASE_URL are the same bytes.
# MNIST's is the file_hash in keras/src/datasets/mnist.py.
_FASHION_MNIST = _Dataset(
    title="Fashion-MNIST", subdir="fashion-mnist", npz=None, system_package="dataset-fashion-mnist",
    remotes=(
        _Remote("train-labels-idx1-ubyte.gz", 29515,
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        _Remote("train-images-idx3-ubyte.gz", 26421880,
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        _Remote("t10k-labels-idx1-ubyte.gz", 5148,
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        _Remote("t10k-images-idx3-ubyte.gz", 4422102,
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
    ),
    download_subdir=os.path.join("datasets", "fashion-mnist"),
)

_MNIST = _Dataset(
    title="MNIST", subdir="mnist", npz="mnist.npz", system_package=None,
    remotes=(_Remote("mnist.npz", 11490434, "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),),
    download_subdir="datasets",
)


def fashion_mnist_load_data(path=None):
    """Load Fashion-MNIST, as ``keras.datasets.fashion_mnist.load_data()`` does.

    60,000 training and 10,000 test images of clothes, 28 x 28 grayscale, in
    10 classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat,
    5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot. The data is Zalando SE's,
    under the MIT license.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A directory holding the four IDX files (gzipped or not). When given,
        only that directory is looked in and nothing is downloaded. When not
        (Keras's only form), the files are looked for in ``$FASTCONV_DATASETS/fashion-mnist``,
        Keras's cache (``$KERAS_HOME/datasets/fashion-mnist``, else
        ``~/.keras/datasets/fashion-mnist``) and Debian's ``/usr/share/datasets/fashion-mnist``
        (``apt-get install dataset-fashion-mnist``), and downloaded into Keras's cache
        when none has them.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays of shapes ``(60000, 28, 28)``, ``(60000,)``,
        ``(10000, 28, 28)`` and ``(10000,)``; pixel values 0 to 255, labels 0 to 9.

    Raises
    ------
    DatasetNotFoundError
        A ``FileNotFoundError``: no place holds the files and downloading
        failed (or ``path`` was given and does not hold them). The message lists
        the files, every place looked in, and how to fix it.
    ValueError
        A file found is not a valid IDX file of the expected shape (wrong magic
        number or dimensions, truncated, damaged gzip), or a download does not
        match its published checksum. The message names the file.

    Examples
    --------
    >>> (x_train, y_train), (x_test, y_test) = fashion_mnist_load_data()
    >>> x_train.shape, x_train.dtype, y_train[:10]
    ((60000, 28, 28), dtype('uint8'), array([9, 0, 0, 3, 0, 2, 7, 2, 5, 5], dtype=uint8))
    >>> x_test.shape, y_test.shape
    ((10000, 28, 28), (10000,))
    """
    return _FASHION_MNIST.load(path)


def mnist_load_data(path=None):
    """Load MNIST, the handwritten digits, as ``keras.datasets.mnist.load_data()`` does.

    60,000 training and 10,000 test images, 28 x 28 grayscale, of the digits
    0 to 9 (Yann LeCun and Corinna Cortes, CC BY-SA 3.0).

    Parameters
    ----------
    path : str or os.PathLike, optional
        A directory holding ``mnist.npz`` (Keras's file) or the four IDX files
        (gzipped or not), or the ``.npz`` file itself. As in Keras, a bare file
        name such as ``"mnist.npz"`` that does not exist in the current
        directory names a file in Keras's cache. When given, only that place is
        looked in and nothing is downloaded. When not, the data is looked for in
        ``$FASTCONV_DATASETS/mnist`` (or ``$FASTCONV_DATASETS/mnist.npz``) and
        Keras's cache (``$KERAS_HOME/datasets/mnist.npz``, else
        ``~/.keras/datasets/mnist.npz``, or a ``mnist`` folder there), and
        ``mnist.npz`` is downloaded into Keras's cache when none has it.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays of shapes ``(60000, 28, 28)``, ``(60000,)``,
        ``(10000, 28, 28)`` and ``(10000,)``; pixel values 0 to 255, labels 0 to 9.

    Raises
    ------
    DatasetNotFoundError
        A ``FileNotFoundError``: no place holds the data and downloading
        failed (or ``path`` was given and does not hold it). The message lists
        the files, every place looked in, and how to fix it.
    ValueError
        A file found is not valid (see ``fashion_mnist_load_data``; for
        ``.npz`` files: missing arrays, wrong dtype or shape), or a download does
        not match its published checksum. The message names the file.

    Examples
    --------
    ``(x_train, y_train), (x_test, y_test) = mnist_load_data()`` reads or downloads
    the data as Keras does. No system package holds MNIST, so the example that
    runs everywhere is the other side: given ``path``, only that place is looked
    in, and nothing is downloaded or made up.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as empty:  # doctest: +ELLIPSIS
    ...     mnist_load_data(path=empty)
    Traceback (most recent call last):
    ...
    fastconv.datasets.DatasetNotFoundError: MNIST not found. ...Nothing was downloaded because `path` was given. ...
    """
    return _MNIST.load(path)


# ---------------------------------------------------------------------- CIFAR-10 (Keras's pickled batches)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
"""Where Keras downloads CIFAR-10 from (``keras/src/datasets/cifar10.py``)."""

# The size is the published file's; the SHA-256 the file_hash in keras/src/datasets/cifar10.py.
_CIFAR10_ARCHIVE = _Remote("cifar-10-python.tar.gz", 170498071,
                           "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce")

_CIFAR10_FOLDER = "cifar-10-batches-py"
"""The folder that the archive holds the batches in."""

_CIFAR10_KERAS_NAME = "cifar-10-batches-py-target"
"""Keras's ``get_file`` name: it extracts into ``datasets/<name>/`` and keeps the archive as ``<name>_archive``."""

_CIFAR10_TRAIN_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
_CIFAR10_BATCHES = (*_CIFAR10_TRAIN_BATCHES, "test_batch")
_CIFAR10_EXTRACTED = (*_CIFAR10_BATCHES, "batches.meta")
"""What a download extracts into Keras's cache (the archive's readme.html is left out)."""

_CIFAR10_BATCH_IMAGES = 10000
_CIFAR10_PIXELS = 3 * 32 * 32

_PICKLE_GLOBALS = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                             ("numpy._core.multiarray", "_reconstruct")})
"""What a batch's pickle may name: numpy's array reconstruction, nothing else (Keras's ``RestrictedUnpickler``)."""


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays and refuses every other global (a tampered file runs no code)."""

    def find_class(self, module, name):
        if (module, name) in _PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it names `{module}.{name}`, which a CIFAR-10 batch never does")


def _cifar10_batches_in(directory):
    """``(folder holding the six batches, None)`` when ``directory`` or its ``cifar-10-batches-py`` does, else
    ``(None, why)``."""
    if not os.path.isdir(directory):
        return None, "does not exist" if not os.path.exists(directory) else "not a directory"
    inner = os.path.join(directory, _CIFAR10_FOLDER)
    for folder in (inner, directory) if os.path.isdir(inner) else (directory,):
        missing = [name for name in _CIFAR10_BATCHES if not os.path.isfile(os.path.join(folder, name))]
        if not missing:
            return folder, None
        if folder == inner:  # what the archive's folder lacks says most
            break
    what = "none of the files" if len(missing) == len(_CIFAR10_BATCHES) else "lacks " + ", ".join(missing)
    return None, what if folder == directory else f"{_CIFAR10_FOLDER}/ {what}"


def _cifar10_places():
    root = os.environ.get(ENVIRONMENT_VARIABLE)
    places = [(f"${ENVIRONMENT_VARIABLE}/{_CIFAR10_FOLDER}",
               os.path.join(os.path.expanduser(root), _CIFAR10_FOLDER) if root else None)]
    places += [("Keras's cache", os.path.join(home, "datasets", _CIFAR10_KERAS_NAME))
               for home in _keras_homes_for_reading()]
    return places


def _cifar10_not_found(misses, download_error, explicit):
    lines = [f"CIFAR-10 not found. Looked for the batch files {', '.join(_CIFAR10_BATCHES)} (the folder "
             f"{_CIFAR10_FOLDER} of {_CIFAR10_ARCHIVE.name}) in:", *(f"  - {miss}" for miss in misses)]
    if explicit:
        lines.append("Nothing was downloaded because `path` was given. To fix: pass `path=` a directory holding "
                     "the files (or the archive itself), or leave `path` out to look in the usual places and "
                     "download.")
    else:
        lines += [str(download_error),
                  "To fix: connect to the internet and call again (the archive goes into Keras's cache and is "
                  f"unpacked there), copy the folder {_CIFAR10_FOLDER} into one of the places above, or pass "
                  "`path=` a directory holding it (or the archive itself)."]
    return "\n".join(lines)


def _load_cifar10(path):
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError("Invalid value for argument `path`. Expected a directory or the .tar.gz archive (a str "
                            f"or os.PathLike). Received: path={path!r}")
        path = os.path.expanduser(os.fspath(path))
        if os.path.isfile(path):
            try:
                archive = tarfile.open(path)
            except tarfile.TarError as error:
                raise _corrupt(path, f"a directory or the archive {_CIFAR10_ARCHIVE.name} (a gzipped tar file)",
                               f"a file that cannot be read as one ({error})") from error
            with archive:
                return _read_cifar10(functools.partial(_archive_member, archive, path))
        places = [("the `path` argument", path)]
    else:
        places = _cifar10_places()
    misses = []
    for label, directory in places:
        folder, why_not = _cifar10_batches_in(directory) if directory else (None, "not set")
        if folder is not None:
            return _read_cifar10(functools.partial(_open_in, folder))
        misses.append(f"{label}: {why_not}" if directory is None else f"{label}: {directory} ({why_not})")
    if path is not None:
        raise DatasetNotFoundError(_cifar10_not_found(misses, None, explicit=True))
    datasets = os.path.join(_keras_home_for_writing(), "datasets")
    try:
        folder = _cifar10_download(datasets)
    except _DownloadFailed as error:
        raise DatasetNotFoundError(_cifar10_not_found(misses, error, explicit=False)) from error.__cause__
    return _read_cifar10(functools.partial(_open_in, folder))


def _open_in(folder, name):
    """``(file, where)`` of the batch ``name`` in ``folder``."""
    where = os.path.join(folder, name)
    return open(where, "rb"), where


def _archive_member(archive, path, name):
    """``(file, where)`` of ``cifar-10-batches-py/name`` in the open tar ``archive`` read from ``path``."""
    where = f"{path}:{_CIFAR10_FOLDER}/{name}"
    try:
        member = archive.extractfile(f"{_CIFAR10_FOLDER}/{name}")
    except KeyError:
        member = None
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise _corrupt(path, f"the archive {_CIFAR10_ARCHIVE.name} (a gzipped tar file)",
                       f"a damaged archive ({error})") from error
    if member is None:
        raise DatasetNotFoundError(f"CIFAR-10 not found: the archive {path} holds no file {_CIFAR10_FOLDER}/{name}.")
    return member, where


def _cifar10_download(datasets):
    """Download Keras's archive into ``datasets`` (unless a verified copy is there), unpack the batches into
    Keras's folder for them and return that folder."""
    archive_path = os.path.join(datasets, f"{_CIFAR10_KERAS_NAME}_archive")
    folder = os.path.join(datasets, _CIFAR10_KERAS_NAME, _CIFAR10_FOLDER)
    try:
        os.makedirs(folder, exist_ok=True)
        if not (os.path.isfile(archive_path) and _sha256(archive_path) == _CIFAR10_ARCHIVE.sha256):
            _download_verified(CIFAR10_URL, archive_path, _CIFAR10_ARCHIVE)
        with tarfile.open(archive_path) as archive:
            for name in _CIFAR10_EXTRACTED:
                member, _ = _archive_member(archive, archive_path, name)
                with member, atomic_write(os.path.join(folder, name)) as out:
                    shutil.copyfileobj(member, out, _CHUNK)
    except (OSError, http.client.HTTPException) as error:
        if isinstance(error, DatasetNotFoundError):
            raise
        raise _DownloadFailed(f"Downloading {CIFAR10_URL} into {datasets} failed: {error}") from error
    return folder


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_cifar10(open_batch):
    """``(x_train, y_train), (x_test, y_test)`` from the six batches that ``open_batch(name) -> (file, where)``
    opens, in Keras's layout: uint8 images ``(N, 32, 32, 3)`` (channels last) and labels ``(N, 1)``."""
    def read(names):
        images, labels = zip(*(_read_cifar10_batch(*open_batch(name)) for name in names))
        x = np.concatenate(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(x), np.concatenate(labels).reshape(-1, 1)

    return read(_CIFAR10_TRAIN_BATCHES), read(_CIFAR10_BATCHES[-1:])


def _read_cifar10_batch(file, where):
    """The ``(images, labels)`` of one pickled batch: ``data`` uint8 ``(10000, 3072)``, ``labels`` 10000 ints 0-9."""
    n = _CIFAR10_BATCH_IMAGES
    expected = f"a pickled CIFAR-10 batch: a dict with uint8 data of shape ({n}, {_CIFAR10_PIXELS}) and {n} labels"
    with file:
        try:
            batch = _BatchUnpickler(file, encoding="bytes").load()
        except Exception as error:  # unpickling damaged bytes can raise almost any exception
            raise _corrupt(where, expected, f"a file that cannot be unpickled as one ({error})") from error
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise _corrupt(where, expected, f"a {type(batch).__name__}" + (
            f" with keys {sorted(batch)}" if isinstance(batch, dict) else ""))
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.shape != (n, _CIFAR10_PIXELS):
        raise _corrupt(where, expected, f"data of type {type(data).__name__}, dtype "
                                        f"{getattr(data, 'dtype', None)} and shape {getattr(data, 'shape', None)}")
    if labels.dtype.kind not in "iu" or labels.shape != (n,):
        raise _corrupt(where, expected, f"labels of dtype {labels.dtype} and shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= _N_CLASSES):
        index = int(np.argmax((labels < 0) | (labels >= _N_CLASSES)))
        raise _corrupt(where, f"labels from 0 to {_N_CLASSES - 1}", f"label {labels[index]} at index {index}")
    return data, labels.astype(np.uint8)


def cifar10_load_data(path=None):
    """Load CIFAR-10, as ``keras.datasets.cifar10.load_data()`` does.

    50,000 training and 10,000 test colour images, 32 x 32, in 10 classes: 0 airplane, 1 automobile, 2 bird,
    3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship, 9 truck (Alex Krizhevsky, Vinod Nair and Geoffrey Hinton).
    The data is the python version, ``cifar-10-python.tar.gz``: six pickled batches in a folder
    ``cifar-10-batches-py``. Batches are unpickled with numpy's array reconstruction allowed and nothing
    else, as Keras does, so a tampered file cannot run code.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A directory holding the batch files (``data_batch_1`` to ``data_batch_5`` and ``test_batch``) or the
        folder ``cifar-10-batches-py`` with them, or the archive ``cifar-10-python.tar.gz`` itself (read without
        unpacking). When given, only that place is looked in and nothing is downloaded. When not (Keras's only
        form), the batches are looked for in ``$FASTCONV_DATASETS/cifar-10-batches-py`` and in Keras's cache
        (``$KERAS_HOME/datasets/cifar-10-batches-py-target/cifar-10-batches-py``, else under ``~/.keras``), and
        when neither has them the archive Keras downloads is downloaded from the same source into Keras's cache
        (as ``cifar-10-batches-py-target_archive``, checked against its SHA-256) and unpacked there.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays of shapes ``(50000, 32, 32, 3)``, ``(50000, 1)``, ``(10000, 32, 32, 3)`` and
        ``(10000, 1)`` (channels last); pixel values 0 to 255, labels 0 to 9.

    Raises
    ------
    DatasetNotFoundError
        A ``FileNotFoundError``: no place holds the batches and downloading failed (or ``path`` was given and
        does not hold them). The message lists the files, every place looked in, and how to fix it.
    ValueError
        A batch found is not a valid CIFAR-10 batch (not a pickle of the expected dict, wrong dtype or shape,
        labels out of range, or a pickle that names anything but numpy's arrays), or a download does not match
        its published checksum. The message names the file.

    Examples
    --------
    ``(x_train, y_train), (x_test, y_test) = cifar10_load_data()`` reads or downloads the data as Keras does.
    Given ``path``, only that place is looked in, and nothing is downloaded or made up:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as empty:  # doctest: +ELLIPSIS
    ...     cifar10_load_data(path=empty)
    Traceback (most recent call last):
    ...
    fastconv.datasets.DatasetNotFoundError: CIFAR-10 not found. ...Nothing was downloaded because `path` was given. ...
    """
    return _load_cifar10(path)
