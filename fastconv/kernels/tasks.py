"""How a kernel takes its share of the work: tasks claimed one at a time from a shared counter.

``fastconv.parallel`` runs a kernel on the calling thread and on helper
threads at once, each with the same arguments. The first argument is the
call's *job*, a small int64 array that all of them share. A kernel cuts its
work into ``n`` independent tasks (output rows, blocks of a matrix...) and
loops over the ones it claims::

    task = first_task(job, n)
    while task < n:
        ...                      # task `task`, which no other thread gets
        task = next_task(job, task)

(The body must not ``continue`` or ``break`` past ``next_task``, which also
counts the task as done; :func:`chunk_end` lets a kernel take the rest of a
chunk at once. A numba generator would hide the loop, but one
loaded from numba's cache cannot be compiled into a new caller.)

Tasks are handed out in chunks of consecutive tasks, ``CHUNKS_PER_THREAD``
chunks for each thread of the call, each claimed with one atomic add on
``job[NEXT]``: a thread that the operating system has parked takes no more
chunks and the others take what it would have done, so on a shared CPU the
work goes to the threads that run. (One claim per task cost more than the
task for small kernels: a max pooling row is a third of a microsecond, and
the counters' cache line moved between the cores at every claim.) Each
completed chunk is counted in ``job[DONE]``; the call is over when that
reaches ``job[TOTAL]``, whatever threads have not even started yet (a helper
that wakes up late finds no task left and returns).

Which thread computes a task never changes what the task computes, so
results do not depend on the number of threads.

:func:`wait_for_signal` and :func:`wait_until_done` are the pool's short
spin-waits, in machine code and without the GIL (see ``fastconv.parallel``).
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from fastconv._jit import helper, kernel

NEXT = 0
"""``job[NEXT]``: the first task of the next chunk to hand out."""
DONE = 1
"""``job[DONE]``: tasks completed."""
ENTERED = 2
"""``job[ENTERED]``: threads that have entered the kernel (the first one wakes the pool's helpers)."""
LEFT = 3
"""``job[LEFT]``: helpers that have left the kernel and are waiting for the next one again."""
SLOTS = 4
"""``job[SLOTS]``: threads that have taken a slot of per-thread scratch (:func:`thread_slot`)."""
TOTAL = 8
"""``job[TOTAL]``: the kernel's number of tasks (written by every thread that enters it, all the same).
In the second 64-byte cache line, with the other values read at every task: the first one, with the
counters, changes at every claim."""
UNKNOWN = 2**63 - 1
"""``job[TOTAL]`` before a thread has entered the kernel: larger than any count of tasks done."""
CHUNK = 9
"""``job[CHUNK]``: tasks per chunk (written with ``TOTAL``)."""
THREADS = 10
"""``job[THREADS]``: threads the call runs on (written by ``fastconv.parallel`` before the call)."""
SIGNAL = 11
"""``job[SIGNAL]``: address of the pool's signal array (see :data:`STARTED`), whose counter the kernel's first
thread increments to wake the helpers (0: none to wake)."""
NUMBER = 12
"""``job[NUMBER]``: the call's number among the pool's calls, ``signal[STARTED]`` after its first thread
incremented it."""
JOB_SIZE = 16
"""Length of a job array: two cache lines."""
STARTED = 0
"""``signal[STARTED]``, in the pool's signal array: calls started (each kernel's first thread adds one); the
helpers poll it."""
CLAIMED = 1
"""``signal[CLAIMED]``: the number of the latest call whose last chunk has been claimed. A helper that sees a
call start after its last task was already taken (a short kernel that its caller did alone) stays in its
polling loop instead of joining it: joining would take the GIL that the caller, done, wants back, and
one of the two would sleep until the other let go of it. (A call of one chunk does not wake the helpers
at all.) Predicting 10,000 images one at a time with the textbook CNN on 2 threads took 0.84 times as
long (three alternating runs) once the helpers stopped joining calls that had no task left."""
CHUNKS_PER_THREAD = 4
"""Chunks each thread of a call gets on average: enough that the others can take over a parked thread's
share, few enough that claims cost nothing next to the work."""


def _counter_pointer(context, builder, array_type, array, index):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [index], inbounds=True)


def _is_counter_array(arr):
    return isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1 and arr.layout == "C"


@intrinsic
def fetch_add(typingctx, counters, index, value):
    """Atomically add ``value`` to ``counters[index]`` and return the value it had before."""
    if not (_is_counter_array(counters) and isinstance(index, types.Integer) and isinstance(value, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        index = context.cast(builder, args[1], sig.args[1], types.intp)
        pointer = _counter_pointer(context, builder, sig.args[0], args[0], index)
        amount = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", pointer, amount, "seq_cst")

    return types.int64(counters, index, value), codegen


@intrinsic
def atomic_load(typingctx, counters, index):
    """``counters[index]``, read atomically (so a loop that polls it sees other threads' updates)."""
    if not (_is_counter_array(counters) and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        index = context.cast(builder, args[1], sig.args[1], types.intp)
        pointer = _counter_pointer(context, builder, sig.args[0], args[0], index)
        return builder.load_atomic(pointer, "acquire", 8)

    return types.int64(counters, index), codegen


@intrinsic
def fetch_add_at(typingctx, address, value):
    """Atomically add ``value`` to the int64 at memory address ``address`` (the pool's signal counter,
    which outlives every kernel call) and return the value it had before."""
    if not (isinstance(address, types.Integer) and isinstance(value, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        address = context.cast(builder, args[0], sig.args[0], types.int64)
        pointer = builder.inttoptr(address, ir.IntType(64).as_pointer())
        amount = context.cast(builder, args[1], sig.args[1], types.int64)
        return builder.atomic_rmw("add", pointer, amount, "seq_cst")

    return types.int64(address, value), codegen


@intrinsic
def store_at(typingctx, address, value):
    """Atomically write ``value`` to the int64 at memory address ``address`` (in the pool's signal array)."""
    if not (isinstance(address, types.Integer) and isinstance(value, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        address = context.cast(builder, args[0], sig.args[0], types.int64)
        pointer = builder.inttoptr(address, ir.IntType(64).as_pointer())
        builder.store_atomic(context.cast(builder, args[1], sig.args[1], types.int64), pointer, "release", 8)
        return context.get_dummy_value()

    return types.none(address, value), codegen


@intrinsic
def cpu_relax(typingctx):
    """A hint that this thread is spin-waiting (x86 ``pause``): saves power, and on a CPU with simultaneous
    multithreading leaves the core to its sibling. Nothing on other processors."""

    def codegen(context, builder, sig, args):
        if builder.module.triple.startswith(("x86_64", "i386", "i686")):
            pause = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                   "llvm.x86.sse2.pause")
            builder.call(pause, [])
        return context.get_dummy_value()

    return types.none(), codegen


@helper
def first_task(job, n_tasks):
    """Record the kernel's number of tasks and claim this thread's first chunk; returns its first task
    (``>= n_tasks``: none is left)."""
    job[TOTAL] = n_tasks
    job[CHUNK] = max(1, n_tasks // (max(job[THREADS], 1) * CHUNKS_PER_THREAD))
    if fetch_add(job, ENTERED, 1) == 0 and job[SIGNAL] != 0:
        first = fetch_add(job, NEXT, job[CHUNK])
        if first + job[CHUNK] < n_tasks:
            # Tasks are left for the helpers. The caller is in machine code now, without the GIL: a helper
            # that sees this takes the GIL at once to join, instead of waiting for the caller to let go of it.
            job[NUMBER] = fetch_add_at(job[SIGNAL] + 8 * STARTED, 1) + 1
        return first
    return _claim(job, n_tasks)


@helper
def thread_slot(job):
    """This thread's own index among the call's threads, ``0 .. job[THREADS] - 1``: its part of scratch
    arrays that the caller passes, one part for each thread the call runs on (every thread of a call
    enters the kernel once, and at most ``job[THREADS]`` do)."""
    return fetch_add(job, SLOTS, 1)


@helper
def _claim(job, n_tasks):
    """Claim the next chunk; returns its first task. Taking the last one says so in ``signal[CLAIMED]``."""
    first = fetch_add(job, NEXT, job[CHUNK])
    if first < n_tasks <= first + job[CHUNK] and job[SIGNAL] != 0:
        store_at(job[SIGNAL] + 8 * CLAIMED, job[NUMBER])
    return first


@helper
def next_task(job, task):
    """The task after ``task``: the next one of its chunk, or, once the chunk is done (and counted as
    done), the first of a newly claimed chunk (``>= n_tasks``: none is left)."""
    chunk, n_tasks = job[CHUNK], job[TOTAL]
    task += 1
    if task % chunk != 0 and task < n_tasks:
        return task
    fetch_add(job, DONE, chunk - (-task % chunk))
    return _claim(job, n_tasks)


@helper
def chunk_end(job, task):
    """One past the last task of ``task``'s chunk. A kernel may do the tasks from ``task`` to there at once
    (in one call of a function compiled on its own, say) and go on with
    ``next_task(job, chunk_end(job, task) - 1)``."""
    chunk = job[CHUNK]
    return min(job[TOTAL], (task // chunk + 1) * chunk)


@kernel
def wait_for_signal(signal, seen, spins, last_job):
    """Count this helper out of ``last_job`` (see :data:`LEFT`), then poll ``signal[STARTED]`` up to
    ``spins`` times for a call to join: one started since ``seen[0]`` whose tasks are not all claimed.
    Returns whether one was found; ``seen[0]`` is the last value of ``signal[STARTED]`` looked at."""
    fetch_add(last_job, LEFT, 1)
    for _ in range(spins):
        started = atomic_load(signal, STARTED)
        if started != seen[0]:
            seen[0] = started
            if atomic_load(signal, CLAIMED) != started:
                return True
        cpu_relax()
    return False


@kernel
def wait_until_done(job, spins):
    """Poll ``job`` up to ``spins`` times until every task of the call is done and every helper that
    entered has left (so that none needs the GIL when the caller goes on; a parked one is not waited
    for beyond ``spins``). Returns whether every task is done."""
    for _ in range(spins):
        if (atomic_load(job, DONE) >= atomic_load(job, TOTAL)
                and atomic_load(job, LEFT) >= atomic_load(job, ENTERED) - 1):
            return True
        cpu_relax()
    return atomic_load(job, DONE) >= atomic_load(job, TOTAL)


@kernel
def increment(signal):
    """``signal[STARTED] += 1``, atomically."""
    fetch_add(signal, STARTED, 1)
