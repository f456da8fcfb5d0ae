"""The docs site and the asv dashboard work in a real browser without internet access.

Debian's Chromium, driven by Playwright, opens each from a local web server
with every request to another host aborted (and recorded: a test fails if the
page tried one) and host names unresolvable besides. In the docs it finds code
that Pygments highlighted when the site was built (``mkdocs.yml``); in the
dashboard that ``benchmarks/publish_offline.py`` published, from a quick asv
run of one cheap benchmark, a flot graph with a data point drawn. Plain
``asv publish`` fails the second: its page loads jQuery and flot from CDNs and
falls back to asv's error page.

Needs ``apt-get install chromium``, ``pip install playwright`` (test extras)
and ``npm ci --prefix benchmarks/www``, which the README's test command (and
``.ci/run``) does: a missing one fails the test, as a missing reference does.
"""

import contextlib
import functools
import http.server
import json
import os
import pathlib
import re
import site
import subprocess
import sys
import threading
import urllib.parse

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"  # Debian's (apt-get install chromium); Playwright downloads no browser here
NODE_MODULES = ROOT / "benchmarks" / "www" / "node_modules"
BENCHMARK = "bench_compile.timeraw_import_fastconv"
"""The dashboard's benchmark: one asv sample of it takes about a second (a fresh ``import fastconv``)."""
REMOTE_ASSET = re.compile(r"<(?:script|link)\b[^>]*\s(?:src|href)=\"https?://", re.I)


def _require(condition, reason):
    if not condition:
        pytest.fail(f"{reason}; the README's test command installs it")


@pytest.fixture(scope="module")
def chromium():
    _require(os.path.exists(CHROMIUM), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require(False, "playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        # Backstop for anything the route below might not see: no host name resolves except the local server's.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        yield browser
        browser.close()


@contextlib.contextmanager
def serve(directory):
    """``directory`` over HTTP on 127.0.0.1 (asv's page reads its JSON with XMLHttpRequest, which file:// forbids)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def offline_page(browser):
    """A page whose requests to any host but 127.0.0.1 are aborted; yields it with the lists of those requests
    and of the page's uncaught JavaScript errors."""
    context = browser.new_context()
    remote, errors = [], []

    def route(request_route):
        if urllib.parse.urlsplit(request_route.request.url).hostname == "127.0.0.1":
            request_route.continue_()
        else:
            remote.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page, remote, errors
    finally:
        context.close()


def test_docs_show_highlighted_code_offline(chromium, tmp_path):
    site_dir = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stdout + build.stderr
    pages = sorted(site_dir.rglob("*.html"))
    assert [p.name for p in pages if REMOTE_ASSET.search(p.read_text())] == []
    # A fence Markdown does not recognise is printed as text, and swallows what follows into a code block.
    assert [p.relative_to(site_dir).as_posix() for p in pages if "```" in p.read_text()] == []

    with serve(site_dir) as url, offline_page(chromium) as (page, remote, errors):
        page.goto(f"{url}/index.html")
        keyword = page.locator(".codehilite code span.kn").first  # `from`, `import`
        style = keyword.evaluate("e => { const s = getComputedStyle(e), code = getComputedStyle(e.closest('code'));"
                                 " return [s.color, s.fontWeight, code.color]; }")
        assert style[0] != style[2] and int(style[1]) >= 600, f"keyword not highlighted: {style}"
        assert page.locator(".codehilite code span").count() > 100
    assert remote == [] and errors == []


def _git_head():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        _require(False, "asv records results under a commit: needs a git checkout")


def _publish_dashboard(tmp_path):
    """asv machine, a quick asv run of BENCHMARK and publish_offline.py, every file in ``tmp_path``."""
    from asv.util import load_json

    config = load_json(ROOT / "asv.conf.json", js_comments=True)
    config.update(repo=str(ROOT), benchmark_dir=str(ROOT / "benchmarks"), results_dir=str(tmp_path / "results"),
                  html_dir=str(tmp_path / "html"), env_dir=str(tmp_path / "env"))
    config_path = tmp_path / "asv.conf.json"
    config_path.write_text(json.dumps(config))
    (tmp_path / "home").mkdir()  # asv keeps machine details in ~/.asv-machine.json
    env = dict(os.environ, HOME=str(tmp_path / "home"), PYTHONUSERBASE=site.getuserbase())
    commands = [
        ["-m", "asv", "machine", "--yes", "--machine", "browser", "--config", str(config_path)],
        ["-m", "asv", "run", "--python=same", "--quick", "--show-stderr", "--machine", "browser", "--config",
         str(config_path), "--set-commit-hash", _git_head(), "-b", f"^{re.escape(BENCHMARK)}$"],
        [str(ROOT / "benchmarks" / "publish_offline.py"), "--config", str(config_path)],
    ]
    for command in commands:
        result = subprocess.run([sys.executable, *command], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return tmp_path / "html"


def test_asv_dashboard_draws_a_graph_offline(chromium, tmp_path):
    _require((NODE_MODULES / "jquery").exists(), "no benchmarks/www/node_modules (npm ci --prefix benchmarks/www)")
    html_dir = _publish_dashboard(tmp_path)
    assert [p.name for p in html_dir.glob("*.html") if REMOTE_ASSET.search(p.read_text())] == []

    with serve(html_dir) as url, offline_page(chromium) as (page, remote, errors):
        page.goto(f"{url}/index.html")  # the grid of every benchmark's small graph, drawn when in view
        small = page.locator(f'[id="summarygrid-{BENCHMARK}"]')
        small.scroll_into_view_if_needed()
        small.locator("canvas.flot-base").wait_for(timeout=30_000)
        page.goto(f"{url}/index.html#{BENCHMARK}")
        page.wait_for_function(
            "() => { const plot = window.jQuery && jQuery('#main-graph').data('plot');"
            " return plot && plot.getData().some(series => series.data.some(point => point[1] > 0)); }",
            timeout=30_000)
        assert not page.url.endswith("error.html")
        painted = page.evaluate(
            "() => { const c = document.querySelector('#main-graph canvas.flot-base');"
            " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }")
        assert painted > 1000, f"{painted} pixels drawn on the graph's canvas"
    assert remote == [] and errors == []
