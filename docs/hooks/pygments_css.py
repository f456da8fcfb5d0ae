"""MkDocs hook: the stylesheet for code highlighted when the site is built, so that it needs no CDN.

mkdocs.yml turns the theme's highlight.js (loaded from a CDN) off and
Markdown's ``codehilite`` on: Pygments marks up every code block while the
site is built. This hook adds the matching stylesheet, ``css/pygments.css``,
generated from the installed Pygments, so that its classes are always the ones
Pygments wrote. ``exclude_docs`` keeps this file out of the site.
"""

from mkdocs.structure.files import File
from pygments.formatters import HtmlFormatter

STYLESHEET = "css/pygments.css"
"""The path in the site; mkdocs.yml lists it in ``extra_css``."""


def on_files(files, config):
    css = HtmlFormatter(style="default").get_style_defs(".codehilite")
    files.append(File.generated(config, STYLESHEET, content=css))
    return files
