"""The asv suite in ``benchmarks/`` stays runnable: every benchmark is collectable, and a subset runs under asv.

asv collects only methods named ``time_*``, ``track_*``, ``peakmem_*``,
``mem_*`` and ``timeraw_*``; a misnamed one silently never runs, and a
``params`` list out of step with ``param_names`` mislabels every result.
The structural tests catch both without running anything. The last test runs
:data:`CI_SUBSET` through asv itself (``asv run --python=same --quick``: each
benchmark once, in a fresh process, as asv always runs them), then
``asv publish``, all in temporary folders, and fails if any benchmark failed.
docs/performance.md shows the same command.

The comparison scripts get smoke runs on tiny sizes: ``compare_torch.py
--grid --quick`` on a few grid rows (table, summary lines, verdict, JSON),
``compare_training.py --epochs 0`` (predict only) with the fastconv and
PyTorch workers on 64 images, ``compare_program.py`` on 200 images with fastconv and the installed Keras,
and the doctests of ``configs.py`` and
``compare_torch.py``, which pytest does not collect by itself.
"""

import importlib
import inspect
import json
import math
import os
import pathlib
import re
import site
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCHMARK_DIR = ROOT / "benchmarks"
MODULES = sorted(path.stem for path in BENCHMARK_DIR.glob("bench_*.py"))
BENCHMARK_NAME = re.compile(r"^(time_|track_|peakmem_|mem_|timeraw_)")
"""The method names asv collects (its ``name_regex`` of each benchmark type, for methods)."""
HOOKS = {"setup", "teardown", "setup_cache"}

CI_SUBSET = (
    r"bench_conv\..*\('valid', 1, 3, '28x28x1->32', 1\)",
    r"bench_conv\..*\('same', 2, 3, '14x14x32->64', 1\)",
    r"bench_pooling\..*\('(max|average)', 'same', 2, 3, '14x14x64'\)",
    r"bench_training\.",
    r"bench_compile\..*(pooling|import)",
    r"bench_distribution\..*textbook",
)
"""``asv run --bench`` regexes: two convolution grid points at batch 1 (a 1-channel 'valid' layer, and a
stride-2 'same' one, whose padding is asymmetric), max and average pooling at one point, the training
step, compile time of the pooling kernels, and the allreduces of the textbook CNN's step under
``mpirun -n 2``. 45-70 s on 2 cores, with a warm or an empty numba cache, before the allreduces."""


@pytest.fixture(scope="module")
def modules():
    sys.path.insert(0, str(ROOT))  # asv imports the suite as the package `benchmarks`, from the repository root
    try:
        yield {name: importlib.import_module(f"benchmarks.{name}") for name in MODULES}
    finally:
        sys.path.remove(str(ROOT))


def _benchmark_classes(module):
    return [cls for name, cls in vars(module).items()
            if inspect.isclass(cls) and not name.startswith("_") and not inspect.isabstract(cls)
            and any(BENCHMARK_NAME.match(attr) for attr in dir(cls))]


def test_the_suite_covers_issue_4():
    assert {"bench_conv", "bench_pooling", "bench_training", "bench_compile"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_every_benchmark_is_collected(modules, name):
    module = modules[name]
    classes = [cls for cls_name, cls in vars(module).items()
               if inspect.isclass(cls) and cls.__module__ == module.__name__ and not cls_name.startswith("_")]
    assert classes or any(BENCHMARK_NAME.match(attr) for attr in vars(module)), f"{name} defines no benchmark"
    for cls in classes:
        methods = [attr for attr, _ in inspect.getmembers(cls, inspect.isfunction)]
        benchmarks = [attr for attr in methods if BENCHMARK_NAME.match(attr)]
        assert benchmarks, f"{cls.__name__} has no time_/track_/peakmem_ method: asv would run nothing of it"
        # Helpers are private (`_name`); any other public method is most likely a misnamed benchmark.
        misnamed = [attr for attr in methods if not attr.startswith("_") and attr not in benchmarks + list(HOOKS)]
        assert not misnamed, f"{cls.__name__}: asv never runs {misnamed}"
        for attr in benchmarks:
            if attr.startswith("track_"):
                assert getattr(getattr(cls, attr), "unit", None) or getattr(cls, "unit", None), \
                    f"{cls.__name__}.{attr} reports a number without a unit"
    # A benchmark class imported from another module would be collected (and run) twice.
    for cls in _benchmark_classes(module):
        assert cls.__module__ == module.__name__, f"{name} imports the benchmark class {cls.__name__}"


@pytest.mark.parametrize("name", MODULES)
def test_params_and_param_names_agree(modules, name):
    for cls in _benchmark_classes(modules[name]):
        if not hasattr(cls, "params"):
            continue
        params, names = cls.params, cls.param_names
        assert all(isinstance(values, (list, tuple)) for values in params), f"{cls.__name__}: params is a list of lists"
        assert len(params) == len(names), f"{cls.__name__}: {len(params)} params, {len(names)} param_names"
        for values, param in zip(params, names):
            assert values, f"{cls.__name__}: no values for {param}"
            assert len({repr(v) for v in values}) == len(values), f"{cls.__name__}: repeated values of {param}"
        for attr in ("setup", *(a for a in dir(cls) if BENCHMARK_NAME.match(a))):
            if not hasattr(cls, attr):
                continue
            signature = inspect.signature(getattr(cls(), attr))
            signature.bind(*(values[0] for values in params))  # asv passes one value of each parameter


def test_plot_draws_compare_torch_results(modules, tmp_path):
    """plot_performance.py draws what compare_torch.py measures (one tiny layer and pooling, one round)."""
    from dataclasses import replace

    from benchmarks import compare_torch, plot_performance
    from benchmarks.configs import CONV_CONFIGS, POOL_CONFIGS, conv_arrays, pool_arrays

    conv_config, pool_config = replace(CONV_CONFIGS[1], batch=2), replace(POOL_CONFIGS[0], batch=2)
    conv_runners = [r for family in (compare_torch.fastconv_conv_runners, compare_torch.torch_conv_runners)
                    for r in family(conv_config, *conv_arrays(conv_config))]
    pool_runners = [r for family in (compare_torch.fastconv_pool_runners, compare_torch.torch_pool_runners)
                    for r in family(pool_config, *pool_arrays(pool_config))]
    report = dict(settings=dict(batch=2),
                  conv=compare_torch.compare("conv", conv_config, conv_runners, 1, 0.0, conv_config.flops),
                  pool=compare_torch.compare("pool", pool_config, pool_runners, 1, 0.0))
    report["machine"] = compare_torch.machine_info(1)
    (tmp_path / "report.json").write_text(json.dumps(report))
    assert plot_performance.main([str(tmp_path / "report.json"), "-o", str(tmp_path / "plot.png")]) == 0
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_benchmark_arrays_start_on_a_cache_line_with_the_seeded_values(modules):
    """The benchmarks' arrays are aligned as a model's layer inputs are (fastconv.buffers), with the values of
    the seeded generator."""
    import numpy as np

    from benchmarks.configs import CONV_CONFIGS, POOL_CONFIGS, conv_arrays, pool_arrays

    for config, make in ((CONV_CONFIGS[1], conv_arrays), (POOL_CONFIGS[0], pool_arrays)):
        arrays = make(config, seed=3)
        rng = np.random.default_rng(3)
        for array in arrays:
            assert array.ctypes.data % 64 == 0 and array.dtype == np.float32
            np.testing.assert_array_equal(array, rng.standard_normal(array.shape, dtype=np.float64).astype(np.float32))


def test_the_docs_show_the_ci_subset():
    page = (ROOT / "docs" / "performance.md").read_text()
    for regex in CI_SUBSET:
        assert f'-b "{regex}"' in page, f"docs/performance.md does not show the CI subset's {regex!r}"


def _git_head():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        if os.environ.get("CI"):  # CI always runs in a clone: there, a missing checkout is a failure
            pytest.fail("asv records results under a commit: CI must run in a git checkout")
        pytest.skip("asv records results under a commit: needs a git checkout")


def test_asv_runs_the_ci_subset(tmp_path):
    """asv machine, asv run (quick, the CI subset) and asv publish, with every file in ``tmp_path``."""
    from asv.util import load_json

    config = load_json(ROOT / "asv.conf.json", js_comments=True)
    assert config["environment_type"] == "existing" and config["benchmark_dir"] == "benchmarks"
    config.update(repo=str(ROOT), benchmark_dir=str(BENCHMARK_DIR), results_dir=str(tmp_path / "results"),
                  html_dir=str(tmp_path / "html"), env_dir=str(tmp_path / "env"))
    config_path = tmp_path / "asv.conf.json"
    config_path.write_text(json.dumps(config))
    # asv keeps machine details in ~/.asv-machine.json: a temporary HOME keeps the user's home untouched.
    env = dict(os.environ, HOME=str(tmp_path / "home"), PYTHONUSERBASE=site.getuserbase())
    (tmp_path / "home").mkdir()

    def asv(*args, timeout=600):
        result = subprocess.run([sys.executable, "-m", "asv", *args, "--config", str(config_path)], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=timeout)
        return result, f"asv {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"

    result, report = asv("machine", "--yes", "--machine", "ci")
    assert result.returncode == 0, report
    run_args = ["run", "--python=same", "--quick", "--show-stderr", "--machine", "ci", "--set-commit-hash",
                _git_head()]
    for regex in CI_SUBSET:
        run_args += ["-b", regex]
    result, report = asv(*run_args, timeout=900)
    assert result.returncode == 0, report

    (results_file,) = [p for p in (tmp_path / "results" / "ci").glob("*.json") if p.name != "machine.json"]
    results = json.loads(results_file.read_text())["results"]
    assert {name.split(".")[0] for name in results} == set(MODULES), report
    for name, row in results.items():
        values = row[0] if isinstance(row[0], list) else [row[0]]
        ran = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
        # Outside the subset a parameter combination is NaN (not run); a failed one is None.
        assert None not in values, f"{name} failed:\n{report}"
        assert ran and all(v > 0 for v in ran), f"{name}: {values}\n{report}"

    result, report = asv("publish")
    assert result.returncode == 0, report
    assert (tmp_path / "html" / "index.html").exists(), report


def test_the_comparison_helpers_doctests(modules):
    """The doctests of configs.py (the grids) and compare_torch.py (the goal verdict): pytest collects only
    ``tests/`` and ``fastconv/``, so they run here."""
    import doctest

    from benchmarks import compare_torch, configs

    for module in (configs, compare_torch):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, f"{module.__name__}: {result}"


GRID_SMOKE = r"^28x28x1->32 3x3 s2|3x3 s2 same on 14x14x64"
"""``--only`` of the grid smoke test: two convolutions (stride 2, 'valid' and asymmetric 'same'), max pooling with
asymmetric 'same' padding (-inf F.pad in torch), and its average twin, which torch cannot express."""


def test_peak_loop_does_every_multiply_add():
    """benchmarks/peak.py's loop, which the GFLOP/s of compare_torch are reported against, multiply-adds into all
    14 accumulators every round (a loop that dropped one would report a peak too high by 1/14), and with zero
    weights leaves them as they were; its rate is positive on one thread and on two at once."""
    sys.path.insert(0, str(ROOT))
    try:
        peak = importlib.import_module("benchmarks.peak")
    finally:
        sys.path.remove(str(ROOT))
    from fastconv.kernels.simd import lanes
    n = lanes(np.float32)
    values = peak.loop_values(weights=1.0)
    start = values.copy()
    peak.fma_loop(values, 5)  # the broadcast scalars are 1: each round adds 1 to every lane
    np.testing.assert_array_equal(values[2 * n:16 * n], start[2 * n:16 * n] + 5)
    np.testing.assert_array_equal(values[:2 * n], start[:2 * n])
    values = peak.loop_values(weights=0.0)
    start = values.copy()
    peak.fma_loop(values, 1000)
    np.testing.assert_array_equal(values, start)
    for threads in (1, 2):
        total, per_thread = peak.fma_peak_gflops(threads, seconds=0.02)
        assert total > 0 and 0 < per_thread <= total


def test_compare_torch_checks_each_runner_on_its_second_call():
    """A runner right on its first call (fresh memory) and wrong on the second (recycled buffers) is caught."""
    sys.path.insert(0, str(ROOT))
    try:
        compare_torch = importlib.import_module("benchmarks.compare_torch")
    finally:
        sys.path.remove(str(ROOT))
    right = [np.ones((2, 3)), np.ones(4), np.ones(5)]
    calls = []

    def stale():
        calls.append(1)
        return right if len(calls) == 1 else [right[0], right[1] * 2, right[2]]

    reference = compare_torch.Runner("torch NCHW", "torch", {}, lambda: right)
    compare_torch.check_runners("ok", [reference, compare_torch.Runner("good", "x", {}, lambda: right)])
    with pytest.raises(compare_torch.MismatchError, match="stale grad_inputs differs"):
        compare_torch.check_runners("layer", [reference, compare_torch.Runner("stale", "x", {}, stale)])
    assert len(calls) == 2


def test_compare_torch_grid_quick(modules, tmp_path):
    """``compare_torch.py --grid --quick`` on part of the grid: every selected row is in the JSON, with GFLOP/s and
    ratios; each pass has its geometric mean and worst line, and the verdict on the goals is printed."""
    from benchmarks.configs import GOAL_GEOMEAN_RATIO, GOAL_WORST_RATIO, PASSES, POOL_GOAL_RATIO, conv_grid, pool_grid

    report_path = tmp_path / "grid.json"
    result = subprocess.run([sys.executable, str(BENCHMARK_DIR / "compare_torch.py"), "--grid", "--quick",
                             "--threads", "1", "--only", GRID_SMOKE, "--json", str(report_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["settings"]["grid"] and report["settings"]["quick"] and report["settings"]["batch"] == 4
    before, after = report["settings"]["fma_peak_gflops"]
    assert before > 0 and after > 0
    assert f"measured before and after the timings: {before:.0f} and {after:.0f} GFLOP/s" in result.stdout

    conv_labels = [c.label for c in conv_grid(4) if re.search(GRID_SMOKE, c.label)]
    assert conv_labels == ["28x28x1->32 3x3 s2 valid", "28x28x1->32 3x3 s2 same"]
    assert [(row["label"], row["pass_name"]) for row in report["conv"]] == \
        [(label, pass_name) for label in conv_labels for pass_name in PASSES]
    for row in report["conv"]:
        fast_s = row["runners"]["fastconv"]["median_s"]
        torch_s = min(row["runners"][name]["median_s"] for name in ("torch NCHW", "torch channels_last"))
        assert row["ratio"] == pytest.approx(fast_s / torch_s)
        assert row["fastconv_gflops"] == pytest.approx(row["flops"] / fast_s / 1e9)
        assert row["torch_gflops"] == pytest.approx(row["flops"] / torch_s / 1e9)

    pool_labels = [c.label for c in pool_grid(4) if re.search(GRID_SMOKE, c.label)]
    assert pool_labels == ["max 3x3 s2 same on 14x14x64", "average 3x3 s2 same on 14x14x64"]
    assert [(row["label"], row["pass_name"]) for row in report["pool"]] == \
        [(pool_labels[0], pass_name) for pass_name in PASSES]
    assert [s["label"] for s in report["skipped"]] == [pool_labels[1]]

    table = result.stdout
    for kind, labels in (("conv", conv_labels), ("pool", pool_labels[:1])):
        for pass_name in PASSES:
            ratios = [row["ratio"] for row in report[kind] if row["pass_name"] == pass_name]
            summary = report["summary"][kind][pass_name]
            assert summary["geomean_ratio"] == pytest.approx(math.prod(ratios) ** (1 / len(ratios)))
            assert summary["worst_ratio"] == max(ratios)
            assert f"| geometric mean ({len(labels)} configurations) | {pass_name} |" in table
            assert f"| worst: {summary['worst_label']} | {pass_name} |" in table
    assert report["goals"]["met"] == all(
        s["geomean_ratio"] <= GOAL_GEOMEAN_RATIO and s["worst_ratio"] <= GOAL_WORST_RATIO
        for s in report["summary"]["conv"].values())
    verdicts = [line for line in table.splitlines() if "Goals (per pass" in line]
    assert len(verdicts) == 1 and all(f"{pass_name}: " in verdicts[0] for pass_name in PASSES), table
    assert "Not compared (no torch equivalent of asymmetric 'same' average pooling): " \
        "average 3x3 s2 same on 14x14x64." in table
    assert report["goals"]["pool"]["met"] == all(row["ratio"] <= POOL_GOAL_RATIO for row in report["pool"])
    assert sum("Pooling goal (every configuration and pass <= 1.0): " in line for line in table.splitlines()) == 1


def test_compare_training_predict_only(modules, tmp_path, capsys):
    """``compare_training.py --epochs 0`` times predict alone, in a fastconv and a PyTorch worker, on 64 test
    images: each reports its timed calls and the (images, classes) it predicted, and the report its ratio."""
    from benchmarks import compare_training

    report_path = tmp_path / "predict.json"
    assert compare_training.main(["--frameworks", "fastconv,torch", "--epochs", "0", "--limit", "64", "--rounds", "1",
                                  "--predict-repeats", "2", "--threads", "1", "--json", str(report_path)]) is None
    report = json.loads(report_path.read_text())
    frameworks = report["frameworks"]
    assert set(frameworks) == {"fastconv", "torch"}
    for row in frameworks.values():
        assert row["epochs"] == [0] and row["median_epoch_seconds"] is None
        assert len(row["predict_seconds"]) == 2 and all(s > 0 for s in row["predict_seconds"])
        assert row["predict_images"] == 64 and row["predict_shape"] == [64, 10]
    ratio = frameworks["fastconv"]["median_predict_seconds"] / frameworks["torch"]["median_predict_seconds"]
    assert frameworks["fastconv"]["predict_ratio"] == pytest.approx(ratio)
    assert report["predict_goal"] == dict(ratio=pytest.approx(ratio), limit=compare_training.PREDICT_GOAL_RATIO,
                                          reference="torch", met=ratio <= compare_training.PREDICT_GOAL_RATIO)
    table = capsys.readouterr().out
    assert "| fastconv | - | - | " in table and "| torch | - | - | " in table
    assert "Predict goal, fastconv / faster of PyTorch and Keras <= 0.7 (Keras not run): " in table


def test_compare_training_round_ratios_pair_each_round(modules):
    """The epoch goal's ratios pair fastconv's epochs with the faster reference of the same round."""
    from benchmarks import compare_training

    def run(*seconds):
        return {"epoch_seconds": list(seconds)}

    results = {"fastconv": [run(6.0), run(9.0, 11.0)], "torch": [run(12.0), run(30.0)],
               "keras": [run(10.0), run(20.0)]}
    assert compare_training._round_ratios(results) == [pytest.approx(0.6), pytest.approx(0.5)]
    assert compare_training._round_ratios({"fastconv": [run(6.0)]}) == []
    assert compare_training._round_ratios({"fastconv": [run()], "torch": [run()]}) == []


def test_profile_step_reports_every_part(modules, capsys):
    profile_step = importlib.import_module("benchmarks.profile_step")
    profile_step.main(["--steps", "3", "--epochs", "1", "--threads", "1"])
    out = capsys.readouterr().out
    step_ms = float(re.search(r"epoch 1: ([\d.]+) ms per step", out).group(1))
    parts = dict(re.findall(r"^  (\S+ \w+)\s+([\d.]+)$", out, re.M))
    names = {f"{layer} {direction}" for layer in ("conv2d", "max_pooling2d", "dense", "dropout", "flatten")
             for direction in ("forward", "backward")}
    assert names <= {re.sub(r"_\d+ ", " ", name) for name in parts}  # conv2d_3 forward -> conv2d forward
    assert "Adam update" in parts
    assert 0 < sum(float(v) for v in parts.values()) < step_ms * 1.5


def test_one_textbook_cnn_definition(modules):
    """The textbook CNN is written once, in ``common.py`` (the Keras-API one for fastconv and Keras, and its PyTorch
    twin), and every benchmark uses it; the two have the same layers' weights, in the same order."""
    from benchmarks.common import textbook_cnn, textbook_cnn_torch
    from fastconv import keras

    # `layers.Dropout(0.4)` or `nn.Dropout(0.4)` in code; the docstrings that describe the model say `Dropout(0.4)`.
    definitions = {path.name: len(re.findall(r"\.Dropout\(0\.4\)", path.read_text()))
                   for path in BENCHMARK_DIR.glob("*.py")}
    assert {name: count for name, count in definitions.items() if count} == {"common.py": 2}

    model, torch_model = textbook_cnn(keras), textbook_cnn_torch()
    assert [w.size for w in model.get_weights()] == [p.numel() for p in torch_model.parameters()]
    assert model.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0).shape == (2, 10)


def test_compare_training_shared_machine_mode(modules, tmp_path, capsys):
    """``--busy 0,1``: every framework's epoch alone and beside one busy process, its slowdown, the goals."""
    from benchmarks import compare_training

    report_path = tmp_path / "shared.json"
    compare_training.main(["--frameworks", "fastconv,torch", "--busy", "0,1", "--images", "128", "--epochs", "1",
                           "--rounds", "1", "--threads", "1", "--json", str(report_path)])
    report = json.loads(report_path.read_text())
    assert set(report["seconds"]) == {"fastconv +0", "fastconv +1", "torch +0", "torch +1"}
    assert all(seconds > 0 for seconds in report["seconds"].values())
    assert report["goals"]["one_busy"]["ratio"] == pytest.approx(report["seconds"]["fastconv +1"]
                                                                 / report["seconds"]["fastconv +0"])
    # One round: the median of the per-round ratios is that round's ratio, the ratio of the medians.
    assert report["goals"]["quiet"]["round_ratios"] == [report["goals"]["quiet"]["ratio"]]
    assert report["goals"]["quiet"]["ratio"] == pytest.approx(report["seconds"]["fastconv +0"]
                                                              / report["seconds"]["torch +0"])
    table = capsys.readouterr().out
    assert "| framework | alone | +1 busy |" in table and "Beside 1 busy process, fastconv's slowdown" in table
    assert not subprocess.run(["pgrep", "-f", "while True: pass"], capture_output=True).stdout  # none left behind


def test_compare_training_shared_mode_judges_the_quiet_goal_on_per_round_ratios(modules, tmp_path, capsys):
    """The shared-machine mode judges the quiet epoch goal as the plain mode does: the median of the per-round
    ratios (fastconv against the faster reference of the same round), not the ratio of the medians."""
    import argparse

    from benchmarks import compare_training

    results = {("fastconv", 0): [{"epoch_seconds": [1.0]}, {"epoch_seconds": [3.0]}, {"epoch_seconds": [2.0]}],
               ("torch", 0): [{"epoch_seconds": [4.0]}, {"epoch_seconds": [3.0]}, {"epoch_seconds": [2.1]}]}
    args = argparse.Namespace(model="textbook", threads=2, rounds=3, json=str(tmp_path / "goals.json"), epochs=1,
                              images=4800)
    compare_training._report_shared(results, ["fastconv", "torch"], [0], args, train_images=4800)
    quiet = json.loads((tmp_path / "goals.json").read_text())["goals"]["quiet"]
    assert quiet["round_ratios"] == pytest.approx([0.25, 1.0, 2.0 / 2.1])
    assert quiet["ratio"] == pytest.approx(2.0 / 2.1)  # the ratio of the medians would be 2.0 / 3.0
    assert not quiet["met"]
    assert "ratio of the medians 0.67" in capsys.readouterr().out


def test_compare_cold_start_reports_cold_and_warm(modules, tmp_path, capsys):
    """A fastconv cold start (empty cache: compiled for real), a warm one, and PyTorch's, with the goals."""
    from benchmarks import compare_cold_start

    report_path = tmp_path / "cold.json"
    assert compare_cold_start.main(["--frameworks", "fastconv,torch", "--rounds", "1", "--threads", "1",
                                    "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert set(report["medians"]) == {"fastconv cold", "fastconv warm", "torch"}
    cold, warm = report["medians"]["fastconv cold"], report["medians"]["fastconv warm"]
    assert cold["first_step_s"] > warm["first_step_s"] > 0  # the cold run compiled, the warm one loaded
    assert report["goals"]["cold"]["seconds"] == cold["first_step_s"]
    assert "Cold first step <= 10 s: " in capsys.readouterr().out


@pytest.mark.parametrize("model", ["resnet", "mobilenet"])
def test_compare_training_trains_the_example_models(modules, tmp_path, model):
    """``--model resnet``/``mobilenet`` trains ``examples/small_cnns.py``'s model in fastconv and its PyTorch twin
    in torch (64 images, one epoch): each worker reports an epoch, and the goal is the one for these models."""
    from benchmarks import compare_training

    report_path = tmp_path / "train.json"
    compare_training.main(["--model", model, "--frameworks", "fastconv,torch", "--epochs", "1", "--limit", "64",
                           "--rounds", "1", "--threads", "1", "--json", str(report_path)])
    report = json.loads(report_path.read_text())
    assert report["settings"]["model"] == model
    for row in report["frameworks"].values():
        assert row["epochs"] == [1] and row["median_epoch_seconds"] > 0
    assert report["epoch_goal"]["limit"] == compare_training.EPOCH_GOAL_RATIOS[model] == 0.7


def test_the_example_models_match_their_pytorch_twins(modules):
    """The PyTorch twins have the example models' trainable parameters (Keras also counts BatchNormalization's
    moving mean and variance, 2 per channel, as parameters)."""
    from benchmarks.common import build_model, build_torch_model

    from fastconv import keras

    for name in ("resnet", "mobilenet"):
        model = build_model(name, keras)
        twin = build_torch_model(name)
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert trainable == sum(p.numel() for p in twin.parameters()), name


def test_compare_program_changes_one_line_of_the_main_job(modules):
    """The Keras run's program is the README's main job with its one fastconv import replaced, nothing else."""
    from benchmarks import compare_program

    source = pathlib.Path(compare_program.PROGRAM).read_text()
    changed = compare_program.keras_program(source)
    different = [(a, b) for a, b in zip(source.splitlines(), changed.splitlines()) if a != b]
    assert different == [("from fastconv import keras", "from tensorflow import keras")]
    assert len(changed.splitlines()) == len(source.splitlines())
    with pytest.raises(ValueError, match="exactly one line 'from fastconv import keras'; found 0"):
        compare_program.keras_program("import numpy\n")
    assert compare_program.seconds_per_epoch("x\nseconds per epoch:    16.3 (median of 3)\n") == 16.3
    with pytest.raises(ValueError, match="no 'seconds per epoch' line"):
        compare_program.seconds_per_epoch("Traceback ...")


def test_compare_program_runs_the_program_with_both(modules, tmp_path, capsys, monkeypatch):
    """A real run of the main job with fastconv and with the installed Keras (``import keras``, on the
    torch backend as in tests/keras_reference.py), on 200 images: each reports its own seconds per epoch,
    and the report their ratio."""
    from benchmarks import compare_program

    monkeypatch.setenv("KERAS_BACKEND", "torch")
    report_path = tmp_path / "program.json"
    compare_program.main(["--keras-python", sys.executable, "--keras-import", "import keras", "--limit", "200",
                          "--epochs", "1", "--rounds", "1", "--json", str(report_path)])
    report = json.loads(report_path.read_text())
    fastconv, keras = report["seconds_per_epoch"]["fastconv"], report["seconds_per_epoch"]["keras"]
    assert len(fastconv) == len(keras) == 1 and fastconv[0] > 0 and keras[0] > 0
    assert report["ratios"] == [pytest.approx(fastconv[0] / keras[0])]
    assert report["goal"]["met"] == (report["ratios"][0] <= compare_program.GOAL_RATIO)
    assert "| fastconv | " in capsys.readouterr().out
