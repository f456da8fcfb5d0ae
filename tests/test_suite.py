"""The test suite itself: its references cannot go missing quietly, and fastconv's doctests run once.

A test that compares with Keras proves nothing when Keras is absent; it must
fail then, not skip. And pytest's ``--doctest-modules`` pass over ``fastconv/``
already runs every docstring example, so a test module that runs them again
only doubles the time and the reports.
"""

import ast
import doctest
import importlib
import pathlib
import re
import subprocess
import sys

TESTS = pathlib.Path(__file__).parent
ROOT = TESTS.parent


def _imports(path):
    """``(module names of plain imports, modules of from-imports)`` anywhere in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    plain = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    origins = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
    return plain, origins


def test_keras_is_imported_through_keras_reference_only():
    """``keras_reference`` chooses the backend and fails with what to install; no module imports Keras its own way."""
    for path in sorted(TESTS.glob("*.py")):
        if path.name == "keras_reference.py":
            continue
        plain, origins = _imports(path)
        assert not [name for name in plain if name.split(".")[0] == "keras"], f"{path.name}: `import keras`"
        if any(origin.split(".")[0] == "keras" for origin in origins):  # keras.src.* helpers, after the reference
            assert "keras_reference" in origins + plain, f"{path.name} imports from keras without keras_reference"
        text = path.read_text()
        assert not re.search(r"importorskip\(\s*['\"](keras|torch)", text), path.name
        assert not re.search(r"skipif\([^)]*keras", text), path.name


def _compares_with_keras(path):
    """Whether ``path`` imports ``keras_reference`` at module level (its tests cannot be collected without it)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return any(isinstance(node, ast.ImportFrom) and node.module == "keras_reference" for node in tree.body)


def test_without_keras_the_modules_that_compare_with_it_fail_with_what_to_install():
    modules = [path.name for path in sorted(TESTS.glob("test_*.py")) if _compares_with_keras(path)]
    assert {"test_layers.py", "test_losses.py", "test_metrics.py", "test_optimizers.py"} <= set(modules)
    blocked = ("import sys; sys.modules['keras'] = None; import pytest; "
               "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', *sys.argv[1:]]))")
    result = subprocess.run([sys.executable, "-c", blocked, *(f"tests/{name}" for name in modules)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    report = result.stdout + result.stderr
    assert result.returncode != 0, report
    assert "skipped" not in report and " passed" not in report, report
    for name in modules:
        assert f"ERROR tests/{name}" in report, report
    assert "These tests compare fastconv with real Keras 3 on its torch backend, which cannot be imported: " \
           "`pip install -e '.[test]'`" in report, report


def test_fastconv_doctests_run_once(pytestconfig):
    # pytest collects them from fastconv/ ...
    assert pytestconfig.option.doctestmodules and "fastconv" in pytestconfig.getini("testpaths")
    # ... so no test runs them again. test_benchmarks.py runs the doctests of benchmarks/, which pytest does not
    # collect.
    assert "benchmarks" not in pytestconfig.getini("testpaths")
    again = [path.name for path in sorted(TESTS.glob("test_*.py"))
             if re.search(r"\bdoctest\.(testmod|testfile|run_docstring_examples|DocTestRunner)\b", path.read_text())]
    assert again == ["test_benchmarks.py"], again


def test_docstring_examples_are_there_and_none_is_skipped():
    """The modules whose examples tests used to run again keep them, and no example in fastconv is ``+SKIP``."""
    finder = doctest.DocTestFinder()
    for name in ["fastconv.datasets", "fastconv.ops", "fastconv.saving", "fastconv.shapes", "fastconv.utils",
                 "fastconv.variables"]:
        assert any(test.examples for test in finder.find(importlib.import_module(name))), name
    skipped = [f"{path.relative_to(ROOT)}:{number}" for path in sorted((ROOT / "fastconv").rglob("*.py"))
               for number, line in enumerate(path.read_text().splitlines(), 1) if re.search(r"doctest:.*\+SKIP", line)]
    assert skipped == []
