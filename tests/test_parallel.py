"""fastconv's thread pool (``fastconv.parallel``) and task claiming (``fastconv.kernels.tasks``).

Results for any thread count are in ``test_determinism.py``; here: a forked
child that uses the kernels, errors raised on helper threads, the thread
count and where it comes from, the CPU-pressure reading that sets how long
threads poll and where the helpers run, and that a kernel's compiled code is never loaded stale.
"""

import multiprocessing
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import threading

import numba
import numpy as np
import pytest

import reference
from fastconv import ops, parallel
from fastconv.kernels import tasks

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _conv_in_child(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 9, 9, 3), dtype=np.float32)
    w = rng.standard_normal((3, 3, 3, 8), dtype=np.float32)
    return ops.conv(x, w, padding="same"), ops.max_pool(x, 2)


def test_fork_started_pool_after_kernels_ran_in_the_parent(restore_threads):
    parallel.set_num_threads(2)
    expected = [_conv_in_child(seed) for seed in range(4)]  # the parent's pool and kernels are running
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map_async(_conv_in_child, range(4)).get(timeout=120)
    for (conv, pooled), (conv_expected, pooled_expected) in zip(results, expected):
        assert conv.tobytes() == conv_expected.tobytes()
        assert pooled.tobytes() == pooled_expected.tobytes()


def test_numba_threading_layer_is_never_started():
    # fastconv's kernels are not numba-parallel: nothing of OpenMP (not fork-safe) is loaded by them.
    script = textwrap.dedent("""
        import numpy as np, numba
        from fastconv import ops
        x = np.ones((2, 8, 8, 3), np.float32)
        ops.conv_grad(x, np.ones((3, 3, 3, 4), np.float32), np.ones((2, 8, 8, 4), np.float32), 1, "same")
        ops.max_pool(x, 2)
        try:
            print("layer", numba.threading_layer())
        except ValueError:
            print("no layer")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.stdout.strip() == "no layer", result.stdout + result.stderr


@numba.njit(nogil=True)
def _fail_on_last_task(job, n_tasks, out):
    task = tasks.first_task(job, n_tasks)
    while task < n_tasks:
        if task == 0:
            # The caller's first task: give the helpers time to claim the rest, the last one included.
            for _ in range(50_000_000):
                if tasks.atomic_load(job, tasks.NEXT) >= n_tasks:
                    break
        if task == n_tasks - 1:
            raise ValueError("task failed")
        out[task] = task
        task = tasks.next_task(job, task)


def _failing_kernel(job, n_tasks, out):
    try:
        _fail_on_last_task(job, n_tasks, out)
    except ValueError as error:
        raise ValueError(f"{error} on thread {threading.current_thread().name}") from None


def test_error_on_a_helper_thread_is_raised_by_run(restore_threads):
    parallel.set_num_threads(4)
    threads_seen = set()
    for _ in range(20):
        with pytest.raises(ValueError, match="task failed on thread") as error:
            parallel.run(_failing_kernel, 64, np.zeros(64))
        threads_seen.add(str(error.value).rsplit(" ", 1)[1])
        if any(name.startswith("fastconv-") for name in threads_seen):
            break
    assert any(name.startswith("fastconv-") for name in threads_seen), threads_seen
    # The pool goes on working after the error.
    x = np.random.default_rng(0).standard_normal((3, 7, 7, 2))
    np.testing.assert_allclose(ops.max_pool(x, 2), reference.max_pool(x, 2), rtol=0, atol=0)


@numba.njit(nogil=True)
def _count_tasks(job, n_tasks, claims):
    task = tasks.first_task(job, n_tasks)
    while task < n_tasks:
        claims[task] += 1
        task = tasks.next_task(job, task)


@numba.njit(nogil=True)
def _count_tasks_by_chunk(job, n_tasks, claims):
    task = tasks.first_task(job, n_tasks)
    while task < n_tasks:
        end = tasks.chunk_end(job, task)
        claims[task:end] += 1  # the rest of the chunk at once, as a kernel hands it to a function of its own
        task = tasks.next_task(job, end - 1)


@pytest.mark.parametrize("count", [_count_tasks, _count_tasks_by_chunk], ids=["one by one", "chunk_end"])
@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("n_tasks", [0, 1, 5, 63, 1000])
def test_every_task_runs_exactly_once(count, threads, n_tasks, restore_threads):
    parallel.set_num_threads(threads)
    for _ in range(20):
        claims = np.zeros(max(n_tasks, 1), np.int64)
        parallel.run(count, n_tasks, claims)
        assert claims[:n_tasks].tolist() == [1] * n_tasks


@numba.njit(nogil=True)
def _take_slots(job, n_tasks, slots):
    slot = tasks.thread_slot(job)
    slots[slot] += 1
    task = tasks.first_task(job, n_tasks)
    while task < n_tasks:
        task = tasks.next_task(job, task)


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_every_thread_of_a_call_takes_its_own_slot(threads, restore_threads):
    """``tasks.thread_slot`` gives each thread that enters a call its own index below the call's thread
    count (the forward convolution's bands of padded rows are one slot each), also after the pool grew
    beyond the call's threads."""
    parallel.set_num_threads(8)
    parallel.run(_take_slots, 64, np.zeros(8, np.int64))  # a pool of 7 helpers
    parallel.set_num_threads(threads)
    for _ in range(20):
        slots = np.zeros(threads + 8, np.int64)
        parallel.run(_take_slots, 64, slots)  # enough tasks for every helper to join
        assert slots.max() == 1 and slots[threads:].sum() == 0
        assert slots.sum() >= 1


def test_many_python_threads_share_the_pool(restore_threads):
    parallel.set_num_threads(3)
    errors = []

    def work():
        try:
            for _ in range(200):
                claims = np.zeros(97, np.int64)
                parallel.run(_count_tasks, 97, claims)
                assert claims.tolist() == [1] * 97
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and not any(thread.is_alive() for thread in threads)


def _job_signalling(signal, threads):
    job = np.zeros(tasks.JOB_SIZE, np.int64)
    job[tasks.THREADS], job[tasks.SIGNAL] = threads, signal.ctypes.data
    return job


@pytest.mark.parametrize("n_tasks, wakes", [(1, False), (2, True), (100, True)])
def test_a_call_wakes_the_helpers_only_with_tasks_left_for_them(n_tasks, wakes):
    """A call of one task is taken whole by the caller's first claim, which then does not signal the helpers.
    With tasks left, it signals with the call's number, and the claim that takes the last chunk writes that
    number into ``signal[CLAIMED]``."""
    signal = np.zeros(tasks.JOB_SIZE, np.int64)
    signal[tasks.STARTED] = 41
    claims = np.zeros(n_tasks, np.int64)
    job = _job_signalling(signal, threads=2)
    _count_tasks(job, n_tasks, claims)  # the caller alone: it claims every chunk
    assert claims.tolist() == [1] * n_tasks
    assert signal[tasks.STARTED] == (42 if wakes else 41)
    assert signal[tasks.CLAIMED] == (42 if wakes else 0)
    assert job[tasks.NUMBER] == (42 if wakes else 0)


def test_a_helper_joins_only_a_call_with_tasks_left():
    """``wait_for_signal`` returns True for a call started since ``seen`` whose last chunk nobody has claimed,
    and skips (``seen`` moved on, still polling) one whose tasks are all taken."""
    signal = np.zeros(tasks.JOB_SIZE, np.int64)
    signal[tasks.STARTED] = 5
    last_job = np.zeros(tasks.JOB_SIZE, np.int64)
    seen = np.array([5])
    assert not tasks.wait_for_signal(signal, seen, 100, last_job) and seen[0] == 5  # nothing new
    assert last_job[tasks.LEFT] == 1  # counted out of its last call first
    signal[tasks.STARTED] = signal[tasks.CLAIMED] = 6
    assert not tasks.wait_for_signal(signal, seen, 100, last_job) and seen[0] == 6
    signal[tasks.STARTED] = 7
    assert tasks.wait_for_signal(signal, seen, 100, last_job) and seen[0] == 7


@pytest.mark.parametrize("count", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects(count):
    with pytest.raises(ValueError, match=r"Invalid value for argument `count`\. Expected a positive integer or "
                                         r"None\. Received: count="):
        parallel.set_num_threads(count)


def _threads_in_subprocess(env, affinity=None):
    script = "import os\n"
    if affinity is not None:
        script += f"os.sched_setaffinity(0, {affinity!r})\n"
    script += "from fastconv import parallel\nprint(parallel.get_num_threads())\n"
    environment = {k: v for k, v in os.environ.items() if k not in ("FASTCONV_NUM_THREADS", "OMP_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**environment, **env},
                            capture_output=True, text=True, timeout=600)
    return result


def test_thread_count_from_environment_and_affinity():
    assert _threads_in_subprocess({"FASTCONV_NUM_THREADS": "3"}).stdout.strip() == "3"
    assert _threads_in_subprocess({"OMP_NUM_THREADS": "5,2"}).stdout.strip() == "5"
    assert _threads_in_subprocess({"FASTCONV_NUM_THREADS": "2", "OMP_NUM_THREADS": "7"}).stdout.strip() == "2"
    assert _threads_in_subprocess({}, affinity={0}).stdout.strip() == "1"
    result = _threads_in_subprocess({"FASTCONV_NUM_THREADS": "zero"})
    assert "Invalid value for environment variable `FASTCONV_NUM_THREADS`. Expected a positive integer. " \
           "Received: FASTCONV_NUM_THREADS='zero'" in result.stderr


def test_cgroup_quota_parsing():
    assert parallel._parse_cgroup2_quota("max 100000\n") is None
    assert parallel._parse_cgroup2_quota("150000 100000\n") == 1.5
    assert parallel._parse_cgroup1_quota("-1\n") is None


def test_cpu_pressure_is_contended_only_when_threads_wait(tmp_path, monkeypatch):
    path = tmp_path / "cpu"
    path.write_text("some avg10=0.00 avg60=0.00 avg300=0.00 total=1000\nfull avg10=0.00 total=0\n")
    pressure = parallel._CpuPressure(paths=(str(tmp_path / "missing"), str(path)))
    clock = [100.0]
    monkeypatch.setattr(parallel.time, "perf_counter", lambda: clock[0])
    pressure._last = (1000, 100.0)
    clock[0] += parallel.PRESSURE_INTERVAL_SECONDS
    path.write_text(f"some avg10=0.00 avg60=0.00 avg300=0.00 total={1000 + 1000}\n")  # 1 ms stalled of 20
    pressure.update()
    assert not pressure.contended
    clock[0] += parallel.PRESSURE_INTERVAL_SECONDS
    path.write_text(f"some avg10=0.00 avg60=0.00 avg300=0.00 total={2000 + 10_000}\n")  # 10 ms of 20
    pressure.update()
    assert pressure.contended
    assert not parallel._CpuPressure(paths=(str(tmp_path / "missing"),)).contended


class _FixedPressure:
    def __init__(self, contended):
        self.contended = contended

    def update(self):
        pass


def test_helpers_leave_the_callers_cpu_only_while_threads_wait_for_cpus(restore_threads, monkeypatch):
    parallel.set_num_threads(3)
    pool = parallel._pool()
    allowed = os.sched_getaffinity(0)
    claims = np.zeros(64, np.int64)

    monkeypatch.setattr(pool, "_pressure", _FixedPressure(contended=True))
    parallel.run(_count_tasks, 64, claims)
    avoided = pool._placement[0]
    assert avoided in allowed  # the CPU the caller ran on when it posted the job
    assert len(pool._helper_ids) >= 2  # earlier tests may have started more
    for helper_id in pool._helper_ids:
        expected = allowed - {avoided} if len(allowed) > 1 else allowed
        assert os.sched_getaffinity(helper_id) == expected

    monkeypatch.setattr(pool, "_pressure", _FixedPressure(contended=False))
    parallel.run(_count_tasks, 64, claims)
    assert pool._placement[0] is None
    for helper_id in pool._helper_ids:
        assert os.sched_getaffinity(helper_id) == allowed
    assert claims.tolist() == [2] * 64


def test_edited_kernel_source_is_compiled_again(tmp_path):
    # numba checks a cached function against its own file only; fastconv's stamp covers every kernel
    # source. Edit a helper in tasks.py (every task counts as done at once, none runs) and run a kernel
    # from conv2d.py.
    package = tmp_path / "fastconv"
    shutil.copytree(ROOT / "fastconv", package, ignore=shutil.ignore_patterns("__pycache__"))
    script = textwrap.dedent("""
        import numpy as np
        from fastconv import parallel
        from fastconv.kernels import conv2d
        x, padded = np.ones((2, 3, 3, 1)), np.full((2, 5, 5, 1), -1.0)
        parallel.run(conv2d._zero_pad, x, padded, 1, 1, False, x)
        print(padded.sum())
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(tmp_path))

    def run():
        result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        return float(result.stdout)

    assert run() == 18.0
    source = package / "kernels" / "tasks.py"
    text = source.read_text()
    edited = text.replace("    job[TOTAL] = n_tasks\n",
                          "    job[TOTAL] = n_tasks\n    fetch_add(job, DONE, n_tasks)\n    return n_tasks\n")
    assert edited != text
    source.write_text(edited)
    assert run() == -50.0


_CONCURRENT_TRAINING = """
import threading
import numba, numpy as np, threadpoolctl
from fastconv import keras, parallel

def blas_threads():
    return {i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info()}

blas_before = blas_threads()

def model(seed):
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input((12, 12, 2)), keras.layers.Conv2D(8, 3, activation="relu"),
                          keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(5)])
    m.compile(optimizer="adam", loss="mse")
    return m

rng = np.random.default_rng(0)
x, y = rng.standard_normal((96, 12, 12, 2)), rng.standard_normal((96, 5))

def fit(m):
    m.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return m.predict(x, verbose=0)

def predict(m):
    return [m.predict(x, batch_size=8, verbose=0) for _ in range(5)][-1]

jobs = [(fit, 1), (fit, 2), (predict, 3), (predict, 4)]
serial = [job(model(seed)) for job, seed in jobs]
models = [model(seed) for _, seed in jobs]
results = [None] * len(jobs)
threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, jobs[i][0](models[i]))) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("same", all(a.tobytes() == b.tobytes() for a, b in zip(results, serial)))
blas_after = blas_threads()  # libraries loaded meanwhile (scipy's BLAS) included, at their defaults
print("blas", all(blas_after[path] == threads for path, threads in blas_before.items())
      and len(set(blas_after.values())) == 1)
print("numba", numba.get_num_threads() == numba.config.NUMBA_DEFAULT_NUM_THREADS)
print("fastconv", parallel.get_num_threads())
"""


def test_concurrent_fit_and_predict_from_threads_change_no_process_setting():
    result = subprocess.run([sys.executable, "-c", _CONCURRENT_TRAINING], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env=dict(os.environ, FASTCONV_NUM_THREADS="3"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["same", "True", "blas", "True", "numba", "True", "fastconv", "3"], \
        result.stdout + result.stderr
