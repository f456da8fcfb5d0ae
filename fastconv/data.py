"""Where ``fit``'s, ``evaluate``'s and ``predict``'s batches come from, and ``keras.utils.PyDataset``.

Data comes as arrays (cut into batches, shuffled each epoch for ``fit``), as
a ``PyDataset`` (Keras's ``keras.utils.PyDataset``, alias ``Sequence``: a
batch for each index, ``len()`` batches; the order of the batches shuffled
each epoch for ``fit``), or as a Python generator (or iterator) that yields
batches, which can be read once. A batch is ``x``, ``(x,)``, ``(x, y)`` or
``(x, y, sample_weight)``.

:class:`Epochs` walks them as Keras's ``EpochIterator`` does: without
``steps_per_epoch`` an epoch is one whole pass; with it, an epoch is that many
batches and the next epoch goes on where it stopped, starting a new pass
when one is used up (an epoch that would run past the end of a pass stops
there, with Keras's warning). A generator that has nothing left ends
training, with the same warning.
"""

import types
import warnings

import numpy as np

from fastconv import utils


class PyDataset:
    """Base class of a dataset that gives a batch for each index (``keras.utils.PyDataset``).

    Define ``__len__`` (the number of batches) and ``__getitem__(index)`` (that batch: ``(x, y)``, ``(x, y,
    sample_weight)`` or ``x`` for ``predict``), and if needed ``on_epoch_begin``/``on_epoch_end``, which
    ``fit`` calls around each epoch. ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are Keras's
    arguments, kept for its code; fastconv reads the batches one after the other in the calling thread (its
    kernels use the cores).

    >>> class Squares(PyDataset):
    ...     def __len__(self):
    ...         return 2
    ...     def __getitem__(self, index):
    ...         x = np.arange(3.0) + 3 * index
    ...         return x[:, None], x[:, None] ** 2
    >>> [batch[1].ravel().tolist() for batch in Epochs(Squares()).epoch()]
    [[0.0, 1.0, 4.0], [9.0, 16.0, 25.0]]
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define `__getitem__(index)`, returning a batch.")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define `__len__()`, the number of batches.")

    @property
    def num_batches(self):
        """The number of batches (``len(self)``)."""
        return len(self)

    def on_epoch_begin(self):
        """Called at the beginning of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


Sequence = PyDataset  # Keras 2's name, an alias in Keras 3


def is_stream(x):
    """Whether ``x`` gives its data a batch at a time: a ``PyDataset`` or a generator (an iterator)."""
    return isinstance(x, (PyDataset, types.GeneratorType)) or (
        hasattr(x, "__next__") and hasattr(x, "__iter__") and not isinstance(x, np.ndarray))


def reject_unreadable(x):
    """Raise ``NotImplementedError`` for data fastconv cannot read: a ``tf.data.Dataset``, a torch
    ``DataLoader``, another iterable that is not an array; arrays and :func:`is_stream` data pass."""
    if is_stream(x) or isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)) or hasattr(x, "__array__") or (
            np.isscalar(x)):
        return
    if hasattr(x, "__iter__") or (hasattr(x, "__getitem__") and hasattr(x, "__len__")):
        raise NotImplementedError(
            f"fastconv's fit, evaluate and predict take numpy arrays (a list or dict of them for several inputs), "
            f"a keras.utils.PyDataset or a Python generator of batches; this {type(x).__name__} (a "
            "tf.data.Dataset, a torch DataLoader, ...) is not supported. Wrap it in a generator "
            "(`(np.asarray(x), np.asarray(y)) for x, y in loader`) or collect it into arrays.")


def unpack(batch):
    """``(x, y, sample_weight)`` of a batch as Keras reads one: ``x``, ``(x,)``, ``(x, y)``, ``(x, y, w)``."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch, None, None
    if not 1 <= len(batch) <= 3:
        raise ValueError("A batch must be `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`. Received a tuple of "
                         f"{len(batch)} items")
    return batch + (None,) * (3 - len(batch))


class _Batches:
    """What :class:`Epochs` reads: ``num_batches`` (None where unknown), ``new_pass()`` (an iterator of
    ``(x, y, sample_weight)``) and the hooks around an epoch (nothing, but for a ``PyDataset``)."""

    num_batches = None

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass


class ArrayBatches(_Batches):
    """Arrays ``x``, ``y``, ``sample_weight`` (or None) in batches of ``batch_size``; with ``shuffle`` each pass
    in a new random order (``fastconv.utils.rng()``, the same on every process of a distribution), the batches
    then cut by indexing, else by slicing. Each batch is this process's shard of the global one."""

    def __init__(self, x, y, sample_weight, batch_size, shuffle=False, strategy=None):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size, self.shuffle, self.strategy = batch_size, shuffle, strategy
        self.num_batches = -(-len(x) // batch_size)

    def new_pass(self):
        local, size, arrays = self.strategy.local, self.batch_size, (self.x, self.y, self.sample_weight)
        order = self.strategy.same_everywhere(utils.rng().permutation(len(self.x))) if self.shuffle else None
        for start in range(0, len(self.x), size):
            if order is not None:
                rows = local(order[start:start + size])
                yield tuple(None if a is None else a[rows] for a in arrays)
            else:  # views of each array
                yield tuple(None if a is None else local(a[start:start + size]) for a in arrays)


class _DatasetBatches(_Batches):
    """A ``PyDataset``'s batches, each pass in order or (``shuffle``) in a new random order of the batches."""

    def __init__(self, dataset, shuffle):
        self.dataset, self.shuffle = dataset, shuffle
        self.num_batches = dataset.num_batches

    def new_pass(self):
        if self.num_batches is None:  # no length: read until it raises IndexError
            index = 0
            while True:
                try:
                    batch = self.dataset[index]
                except IndexError:
                    return
                yield unpack(batch)
                index += 1
        order = utils.rng().permutation(self.num_batches) if self.shuffle else range(self.num_batches)
        for index in order:
            yield unpack(self.dataset[int(index)])

    def on_epoch_begin(self):
        self.dataset.on_epoch_begin()

    def on_epoch_end(self):
        self.dataset.on_epoch_end()


class _GeneratorBatches(_Batches):
    """A generator's batches: one pass, which every epoch continues."""

    def __init__(self, generator):
        self.generator = iter(generator)

    def new_pass(self):
        return (unpack(batch) for batch in self.generator)


class Epochs:
    """The batches of one epoch after another, from arrays (an :class:`ArrayBatches`), a ``PyDataset`` or a
    generator, ``steps_per_epoch`` at a time or a whole pass each (see the module's docstring). ``ran_out`` is
    set when a generator has nothing left: training stops there."""

    def __init__(self, data, steps_per_epoch=None, shuffle=False):
        if isinstance(data, PyDataset):
            data = _DatasetBatches(data, shuffle)
        elif not isinstance(data, ArrayBatches):
            data = _GeneratorBatches(data)
        self.data = data
        self.steps_per_epoch = steps_per_epoch
        self.ran_out = False
        self.read = 0  # batches read so far, every epoch
        self._pass = None
        self._seen = 0

    @property
    def steps(self):
        """The steps of an epoch, where known (None for a generator without ``steps_per_epoch``)."""
        return self.steps_per_epoch or self.data.num_batches

    def epoch(self):
        """One epoch's batches, ``(x, y, sample_weight)`` each, as given (arrays' already checked); the data's
        ``on_epoch_end`` runs however the epoch ends (training stopped early too)."""
        self.data.on_epoch_begin()
        try:
            for batch in self._batches_of_epoch():
                self.read += 1
                yield batch
        finally:
            self.data.on_epoch_end()

    def check_not_empty(self):
        """Keras's error for data given a batch at a time that gave none at all."""
        if not self.read and not isinstance(self.data, ArrayBatches):
            kind = "PyDataset" if isinstance(self.data, _DatasetBatches) else "Python generator"
            raise ValueError(f"When passing a {kind} to a Keras model, it must yield at least one batch. "
                             f"Received an empty {kind}.")

    def _batches_of_epoch(self):
        known = self.data.num_batches
        if self.steps_per_epoch is None:
            count = 0
            for batch in self.data.new_pass():
                count += 1
                yield batch
            if not count:
                self._out_of_data(for_good=True)
        else:
            for _ in range(self.steps_per_epoch):
                if known is not None and self._seen >= known:  # the pass is used up: the next epoch starts one
                    self._out_of_data(for_good=False)
                    break
                if self._pass is None:
                    self._pass, self._seen = self.data.new_pass(), 0
                batch = next(self._pass, None)
                if batch is None:
                    self._pass = None
                    self._out_of_data(for_good=known is None)
                    break
                self._seen += 1
                yield batch
            if known is not None and self._seen >= known:
                self.restart()

    def restart(self):
        """Start the next epoch with a new pass (a generator's goes on where it stopped), as each validation
        and ``evaluate`` starts in Keras."""
        self._pass, self._seen = None, 0

    def _out_of_data(self, for_good):
        self.ran_out = self.ran_out or for_good
        warnings.warn("Your input ran out of data; interrupting training. Make sure that your dataset or "
                      "generator can generate at least `steps_per_epoch * epochs` batches.", UserWarning,
                      stacklevel=3)
