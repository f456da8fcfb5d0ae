"""fastconv's thread pool: every kernel call runs on the calling thread and on helper threads at once.

``run(kernel, *args)`` calls ``kernel(job, *args)`` on the calling thread and
on the pool's helpers; the kernel's threads claim its tasks from the shared
``job`` counters (``fastconv.kernels.tasks``) until none is left, and ``run``
returns when every task is done. Kernels are serial machine code compiled
without numba's ``parallel=True``: this module, not numba's threading layer
(OpenMP, TBB or workqueue), decides how they share the CPUs. Why:

- **Shared CPUs.** A helper that the operating system parks takes no more
  tasks, and the running threads do its share. Waiting threads poll (in
  machine code, without the GIL, so that the many short kernels of a
  training step hand over in microseconds) only briefly, and more briefly
  still when other threads are waiting for the CPUs; then they sleep. While
  threads wait for CPUs, the helpers also keep off the CPU that the calling
  thread runs on, so that none is queued behind the caller.
  numba's OpenMP threads spun at every barrier for a thread that was not
  running: beside one busy process an epoch took 4.5 times as long as alone.
- **Compile time.** numba's parallel compilation (the parfor passes and a
  separately compiled loop body) was more than half of the time a new
  machine spent compiling the kernels.
- **Forks and threads.** The pool is rebuilt in a child process after
  ``fork()`` (GNU OpenMP stops a forked child that uses it), and any number of
  Python threads may call kernels at the same time (numba's workqueue layer
  aborts the process), each call being its own job.

The number of threads is :func:`get_num_threads`: by default the CPUs this
process may run on (its affinity mask, and its cgroup's CPU quota where one is
set); ``FASTCONV_NUM_THREADS`` (or ``OMP_NUM_THREADS``) in the environment, or
:func:`set_num_threads`, set it. Nothing here changes numba's, BLAS's or the
environment's settings.

>>> get_num_threads() >= 1
True
"""

import ctypes
import functools
import itertools
import math
import os
import threading
import time

import numpy as np

from fastconv import compilation
from fastconv.kernels import tasks

SPIN_SECONDS = 200e-6
"""How long a waiting thread polls before it sleeps (a helper waiting for the next kernel, or a caller
waiting for the helpers' last tasks) while no thread waits for a CPU: long enough to bridge the Python
between the kernels of a training step."""

CONTENDED_SPIN_SECONDS = 20e-6
"""How long a waiting thread polls before it sleeps while threads wait for the CPUs (see ``CONTENDED``):
a polling thread then holds a core that a thread with work (the caller, or another program) could use,
and a core left idle lets the operating system move a waiting thread onto it. (Textbook CNN, 2 cores,
beside one busy process: an epoch took 1.66 times its time alone with 200 us of polling, 1.27 times with
20 us; alone, 200 us was 9% faster than 20 us.)"""

CONTENDED = 0.1
"""The share of recent time during which some runnable thread waited for a CPU (Linux's pressure stall
information) above which waiting threads poll for ``CONTENDED_SPIN_SECONDS``."""

PRESSURE_INTERVAL_SECONDS = 0.02
"""How often the CPU pressure is read (a few microseconds per read)."""

_configured_threads = None


def available_cpus():
    """CPUs this process may use: its affinity mask, capped by its cgroup's CPU quota (rounded up)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cpus, math.ceil(quota))) if quota else max(1, cpus)


def _cgroup_cpu_quota():
    """CPUs' worth of time per period that this process's cgroup allows, or None where no quota is set."""
    for path, parse in (("/sys/fs/cgroup/cpu.max", _parse_cgroup2_quota),
                        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", _parse_cgroup1_quota)):
        try:
            with open(path) as f:
                return parse(f.read())
        except (OSError, ValueError):
            continue
    return None


def _parse_cgroup2_quota(text):
    quota, period = text.split()[:2]
    return None if quota == "max" else int(quota) / int(period)


def _parse_cgroup1_quota(text):
    quota = int(text)
    if quota <= 0:
        return None
    with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
        return quota / int(f.read())


def _threads_from_environment():
    for name in ("FASTCONV_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        try:
            count = int(value.split(",")[0])  # OMP_NUM_THREADS may list one count per nesting level
        except ValueError:
            count = 0
        if count < 1:
            raise ValueError(f"Invalid value for environment variable `{name}`. Expected a positive integer. "
                             f"Received: {name}={value!r}")
        return count
    return None


@functools.cache
def _default_threads():
    return _threads_from_environment() or available_cpus()


def get_num_threads():
    """Threads each kernel call runs on: :func:`set_num_threads`'s value, else ``FASTCONV_NUM_THREADS`` or
    ``OMP_NUM_THREADS``, else :func:`available_cpus` (the environment and the CPUs are read once)."""
    return _configured_threads if _configured_threads is not None else _default_threads()


def set_num_threads(count):
    """Run kernels on ``count`` threads from now on, in every Python thread (``None``: the default again).

    Results are bitwise identical for any number of threads.
    """
    global _configured_threads
    if count is not None and not (isinstance(count, (int, np.integer)) and not isinstance(count, bool)
                                  and count >= 1):
        raise ValueError(f"Invalid value for argument `count`. Expected a positive integer or None. "
                         f"Received: count={count!r}")
    _configured_threads = None if count is None else int(count)


def run(kernel, *args, threads=None):
    """Call ``kernel(job, *args)`` on this thread and ``threads - 1`` helpers (``get_num_threads()`` by
    default); return when it is done.

    ``kernel`` claims its tasks with ``fastconv.kernels.tasks`` (see there).
    An exception raised by the kernel on any of its threads is raised here.
    ``threads=1`` runs it on this thread alone: for work that is one task.
    """
    job = np.zeros(tasks.JOB_SIZE, np.int64)
    job[tasks.TOTAL] = tasks.UNKNOWN  # until the kernel's first thread writes it: not done yet
    threads = get_num_threads() if threads is None else threads
    job[tasks.THREADS] = threads
    if kernel not in compilation.first_call.called:
        with compilation.first_call(kernel):  # the first call in this process may compile: say so if it is slow
            _run(kernel, job, args, threads)
    else:
        _run(kernel, job, args, threads)


def _run(kernel, job, args, threads):
    if threads == 1:
        kernel(job, *args)
    else:
        _pool().run(kernel, job, args, threads - 1)


class _Job:
    """One ``run`` call as the helpers see it."""

    __slots__ = ("kernel", "counters", "args", "helpers", "caller_sleeping", "error", "serial")
    _serials = itertools.count()

    def __init__(self, kernel, counters, args, helpers):
        self.kernel, self.counters, self.args, self.helpers = kernel, counters, args, helpers
        self.serial = next(_Job._serials)
        self.caller_sleeping = False
        self.error = None

    def done(self):
        return self.error is not None or self.counters[tasks.DONE] >= self.counters[tasks.TOTAL]


class _CpuPressure:
    """Whether threads have recently been waiting for a CPU, from Linux's pressure stall information.

    The share of time in which some runnable thread waited, over the last
    ``PRESSURE_INTERVAL_SECONDS`` or so: the cgroup's ``cpu.pressure`` where
    it has one, else the system's ``/proc/pressure/cpu``. Without either (other
    systems, older kernels), never contended.
    """

    PATHS = ("/sys/fs/cgroup/cpu.pressure", "/proc/pressure/cpu")

    def __init__(self, paths=PATHS):
        self.contended = False
        self._lock = threading.Lock()
        self._file = None
        for path in paths:
            try:
                self._file = open(path, "rb", buffering=0)
                self._last = (self._stalled_microseconds(), time.perf_counter())
                break
            except (OSError, ValueError, IndexError):
                self._file = None

    def _stalled_microseconds(self):
        self._file.seek(0)
        some = self._file.read(256).split(b"\n")[0]  # "some avg10=... avg60=... avg300=... total=MICROSECONDS"
        return int(some.rsplit(b"total=", 1)[1])

    def update(self):
        """Read the pressure again if ``PRESSURE_INTERVAL_SECONDS`` have passed (by one thread at a time)."""
        if self._file is None or not self._lock.acquire(blocking=False):
            return
        try:
            now = time.perf_counter()
            if now - self._last[1] >= PRESSURE_INTERVAL_SECONDS:
                stalled = self._stalled_microseconds()
                self.contended = (stalled - self._last[0]) / ((now - self._last[1]) * 1e6) > CONTENDED
                self._last = (stalled, now)
        except (OSError, ValueError, IndexError):
            self._file = None
            self.contended = False
        finally:
            self._lock.release()


class _Pool:
    """Helper threads, started as they are first needed, that join whichever job was posted last.

    A helper waits for the next job first by polling the signal counter that
    a job's kernel increments as it starts (machine code, no GIL; the kernel's
    caller has let go of the GIL by then, so the helper takes it at once),
    then by sleeping on a condition that ``run`` notifies. It joins only jobs
    with tasks left (``tasks.CLAIMED``): a job of one task does not signal,
    and one whose last task is taken before the helper sees it is skipped. The caller, its own
    share done, polls until every task is done and the helpers that joined
    are polling again (none of them then needs the GIL while the caller runs
    Python); only if that takes too long does it sleep until the last task is
    done, woken by the helper that finishes it.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a job for sleeping helpers, or a job finished
        self._signal = np.zeros(tasks.JOB_SIZE, np.int64)  # tasks.STARTED and tasks.CLAIMED; helpers poll it
        self._signal_address = self._signal.ctypes.data
        self._job = None
        self._helpers = []
        self._sleeping = 0
        self._pressure = _CpuPressure()
        self._helper_ids = []  # native thread ids, for _place_helpers
        self._placement = (None, 0)
        polls_per_second = _polls_per_second()
        self._quiet_polls = max(1, int(polls_per_second * SPIN_SECONDS))
        self._contended_polls = max(1, int(polls_per_second * CONTENDED_SPIN_SECONDS))

    def _polls(self):
        return self._contended_polls if self._pressure.contended else self._quiet_polls

    def run(self, kernel, counters, args, helpers):
        job = _Job(kernel, counters, args, helpers)
        counters[tasks.SIGNAL] = self._signal_address
        if len(self._helpers) < helpers:
            self._start_helpers(helpers)
        self._place_helpers()
        self._job = job  # polling helpers find it when the kernel's first thread increments the signal
        if self._sleeping:
            with self._lock:
                tasks.increment(self._signal)
                self._changed.notify_all()
        kernel(counters, *args)
        if not tasks.wait_until_done(counters, self._polls()):
            with self._lock:
                job.caller_sleeping = True
                while not job.done():
                    self._changed.wait()
        if job.error is not None:
            raise job.error

    def _place_helpers(self):
        """While threads wait for CPUs, keep the helpers off the CPU that the calling thread runs on.

        The caller runs its share of every kernel and then waits for the
        helpers; a helper that the scheduler queues behind the caller on the
        same CPU (while another program holds the other) finishes its chunk a
        time slice late, and every kernel of the step waits for it. Off the
        caller's CPU, the helpers share the other CPUs with whatever else runs
        there. Set again only when the caller's CPU, the pressure or the
        helpers change (a system call per helper); never while the machine is
        quiet, where the scheduler's own placement is best.
        """
        avoid = _current_cpu() if self._pressure.contended else None
        placement = (avoid, len(self._helper_ids))
        if placement == self._placement:
            return
        self._placement = placement
        try:
            cpus = os.sched_getaffinity(0)  # the calling thread's CPUs, which the helpers inherited
            if avoid in cpus and len(cpus) > 1:
                cpus = cpus - {avoid}
            for helper_id in list(self._helper_ids):
                os.sched_setaffinity(helper_id, cpus)
        except OSError:  # a helper that has exited, or a system without affinity
            pass

    def _start_helpers(self, count):
        with self._lock:
            while len(self._helpers) < count:
                thread = threading.Thread(target=self._help, args=(len(self._helpers),),
                                          name=f"fastconv-{len(self._helpers) + 1}", daemon=True)
                self._helpers.append(thread)
                thread.start()

    def _help(self, index):
        self._helper_ids.append(threading.get_native_id())
        seen = np.array([self._signal[tasks.STARTED]])
        last, left = -1, np.zeros(tasks.JOB_SIZE, np.int64)
        while True:
            if not tasks.wait_for_signal(self._signal, seen, self._polls(), left):
                with self._lock:
                    self._sleeping += 1
                    while self._signal[tasks.STARTED] == seen[0]:
                        self._changed.wait()
                    self._sleeping -= 1
                seen[0] = self._signal[tasks.STARTED]
            left = np.zeros(tasks.JOB_SIZE, np.int64)
            job = self._job
            if job is None or job.serial == last or index >= job.helpers or job.done():
                continue
            last, left = job.serial, job.counters
            try:
                job.kernel(job.counters, *job.args)
            except BaseException as error:  # reported to the caller, whose task would otherwise never finish
                job.error = error
            if job.caller_sleeping and job.done():
                with self._lock:
                    self._changed.notify_all()
            job = None  # the job's arrays are free for reuse (fastconv.buffers) once their caller drops them
            self._pressure.update()


try:
    _sched_getcpu = ctypes.CDLL(None, use_errno=True).sched_getcpu
except (OSError, AttributeError):  # not glibc, or not Linux
    _sched_getcpu = None


def _current_cpu():
    """The CPU the calling thread runs on now, or None where the C library cannot tell."""
    if _sched_getcpu is None or not hasattr(os, "sched_setaffinity"):
        return None
    cpu = _sched_getcpu()
    return cpu if cpu >= 0 else None


def _polls_per_second():
    """How many polls of :func:`fastconv.kernels.tasks.wait_for_signal` take a second on this machine."""
    signal, seen = np.zeros(tasks.JOB_SIZE, np.int64), np.zeros(1, np.int64)
    tasks.wait_for_signal(signal, seen, 1, signal)
    polls = 20000
    start = time.perf_counter()
    tasks.wait_for_signal(signal, seen, polls, signal)
    return polls / max(time.perf_counter() - start, 1e-9)


_POOL = None
_POOL_LOCK = threading.Lock()


def _pool():
    global _POOL
    if _POOL is None:
        with _POOL_LOCK:
            if _POOL is None:
                _POOL = _Pool()
    return _POOL


def _forget_pool_after_fork():
    """A forked child has none of the parent's threads: it starts its own pool when it needs one."""
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)
