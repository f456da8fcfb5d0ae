"""The README starts with the two commands, and CI runs the second one word for word."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _readme_commands():
    return [line.strip()[2:] for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith("    $ ")]


def test_readme_has_exactly_two_commands():
    commands = _readme_commands()
    assert len(commands) == 2
    assert "examples/fashion_mnist_cnn.py" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert _readme_commands()[1] in ci_lines


def test_the_main_job_script_exists():
    assert (ROOT / _readme_commands()[0].split("python ")[-1].split()[0]).exists()


def test_getting_started_page_shows_the_same_two_commands():
    page = [line.strip() for line in (ROOT / "docs" / "index.md").read_text().splitlines()]
    for command in _readme_commands():
        assert command in page
