"""``asv publish``, then the dashboard made self-contained: it works in a browser without internet access.

asv 0.6's page loads jQuery, flot and its plugins, stupidtable, blueimp-md5
and Bootstrap from CDNs; without them it shows asv's error page. This script
runs ``asv publish``, copies those files from the npm packages pinned in
``benchmarks/www/package.json`` into the dashboard (``vendor/<package>/...``)
and points the page at the copies. Run from the repository root::

    npm ci --prefix benchmarks/www                # once: the packages, into benchmarks/www/node_modules
    python benchmarks/publish_offline.py          # instead of `asv publish`; arguments go on to it
    asv preview                                   # http://127.0.0.1:8080

A copy keeps its ``integrity`` attribute where it is byte for byte the file
the CDN serves (jQuery, Bootstrap, blueimp-md5, flot-orderbars); the npm
packages of flot (unminified) and stupidtable (1.1.3: npm has no 1.0.1) are
not, and lose it. An address the table below does not know (a newer asv) is
an error that names it, not a dashboard that fails later in a browser.
"""

import argparse
import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

NODE_MODULES = Path(__file__).resolve().parent / "www" / "node_modules"

CDN_FILES = {
    "https://code.jquery.com/jquery-3.3.1.min.js": ("jquery", "3.3.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": ("flot", "0.8.3", "jquery.flot.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js":
        ("flot", "0.8.3", "jquery.flot.time.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        ("flot", "0.8.3", "jquery.flot.selection.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        ("flot", "0.8.3", "jquery.flot.categories.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        ("flot-orderbars", "1.0.0", "js/jquery.flot.orderBars.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        ("stupid-table-plugin", "1.1.3", "stupidtable.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js":
        ("blueimp-md5", "2.19.0", "js/md5.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        ("bootstrap", "3.1.1", "dist/js/bootstrap.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        ("bootstrap", "3.1.1", "dist/css/bootstrap.min.css"),
}
"""What asv's page loads from CDNs: address -> (npm package, its version in package.json, file in the package)."""

_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.I)
_REMOTE = re.compile(r'\s(?:src|href)="(https?://[^"]+)"', re.I)
_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")


def _sri_matches(integrity, data):
    """Whether ``data`` has one of the digests of an ``integrity`` attribute ("sha256-... sha512-...")."""
    for token in integrity.split():
        algorithm, _, digest = token.partition("-")
        if algorithm in ("sha256", "sha384", "sha512") and \
                base64.b64encode(hashlib.new(algorithm, data).digest()).decode() == digest:
            return True
    return False


def _copy(node_modules, package, version, path, vendor):
    """Copy ``path`` of ``package`` into ``vendor`` (and, for a stylesheet, the files its ``url()``s name)."""
    root = node_modules / package
    manifest = root / "package.json"
    if not manifest.exists():
        raise SystemExit(f"{root} is missing: run `npm ci --prefix benchmarks/www` (or pass --node-modules)")
    installed = json.loads(manifest.read_text())["version"]
    if installed != version:
        raise SystemExit(f"{root} is version {installed}, expected {version}: run `npm ci --prefix benchmarks/www`")
    files = [Path(path)]
    if path.endswith(".css"):
        for url in _CSS_URL.findall((root / path).read_text()):
            if not re.match(r"[a-z]+:", url):  # relative: fonts and images next to the stylesheet
                files.append(Path(path).parent / re.split(r"[?#]", url)[0])
    for relative in files:
        target = vendor / package / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile((root / relative).resolve(), target.resolve())
    return (root / path).read_bytes(), f"vendor/{package}/{path}"


def make_offline(html_dir, node_modules=NODE_MODULES):
    """Point every ``<script>``/``<link>`` of the published dashboard in ``html_dir`` at local copies.

    Returns ``{address: local path}``. Raises ``SystemExit`` naming any address
    without a local copy, and a missing or wrong-version package.
    """
    html_dir, node_modules = Path(html_dir), Path(node_modules)
    replaced = {}
    for page in sorted(html_dir.glob("*.html")):
        text = page.read_text()
        unknown = sorted({url for tag in _TAG.findall(text) for url in _REMOTE.findall(tag)} - set(CDN_FILES))
        if unknown:
            raise SystemExit(f"{page} loads {', '.join(unknown)}, which {Path(__file__).name} has no local copy "
                             "of: add the npm package to benchmarks/www/package.json and the address to CDN_FILES")

        def localize(match):
            tag = match.group(0)
            remote = _REMOTE.search(tag)
            if not remote:
                return tag
            url = remote.group(1)
            data, local = _copy(node_modules, *CDN_FILES[url], html_dir / "vendor")
            replaced[url] = local
            tag = tag.replace(url, local)
            integrity = re.search(r'\sintegrity="([^"]*)"', tag)
            if integrity and not _sri_matches(integrity.group(1), data):
                tag = tag.replace(integrity.group(0), "")
            # Same-origin now: no CORS request, no referrer policy to set.
            return re.sub(r'\s(?:crossorigin|referrerpolicy)="[^"]*"', "", tag)

        page.write_text(_TAG.sub(localize, text))
    return replaced


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Other arguments are passed to `asv publish`.")
    parser.add_argument("--config", default="asv.conf.json", help="asv's configuration (default asv.conf.json)")
    parser.add_argument("--node-modules", type=Path, default=NODE_MODULES,
                        help="where `npm ci --prefix benchmarks/www` installed the packages")
    parser.add_argument("--html-dir", "-o", default=None, help="asv's output folder (default: html_dir of the config)")
    args, asv_args = parser.parse_known_args(argv)
    from asv.config import Config

    html_dir = Path(args.html_dir or Config.load(args.config).html_dir)  # relative to the working directory, as asv
    published = subprocess.run([sys.executable, "-m", "asv", "publish", "--config", args.config,
                                "--html-dir", str(html_dir), *asv_args])
    if published.returncode:
        return published.returncode
    replaced = make_offline(html_dir, args.node_modules)
    print(f"{html_dir}: {len(replaced)} files from CDNs now served from {html_dir / 'vendor'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
