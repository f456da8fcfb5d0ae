"""ruff, with the small configuration in pyproject.toml, passes on the whole repository, and CI runs it first."""

import pathlib
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_ci_runs_ruff_before_pytest():
    (command,) = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "pytest" in line]
    assert 0 <= command.find("ruff check") < command.find("pytest"), command
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["ruff"]["lint"]["select"]
    assert any(req.startswith("ruff") for req in config["project"]["optional-dependencies"]["test"])


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
