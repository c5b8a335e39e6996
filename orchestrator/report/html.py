"""The page: one template (assets/report.html) with the styles, the scripts and the run's data
inlined, so the file opens from a disk or an e-mail and loads nothing.

The data goes into a ``<script type="application/json">``, which the browser never runs; every
``<``, ``>`` and ``&`` in it is written as a JSON ``\\u`` escape, so no task id or error message
can close the element (``</script>``) or open a comment. The page's script escapes every text
it puts into the DOM. A Content-Security-Policy allows only this page's own style and script
(by their SHA-256) and nothing from anywhere else, so even a mistake could not fetch or run
anything.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["render_page", "embed_json", "SCRIPTS"]

# The page's script, in order: base.js defines what the others use; main.js draws.
SCRIPTS = ("base.js", "header.js", "timeline.js", "concurrency.js", "graph.js", "table.js",
           "main.js")
_SLOT = re.compile(r"@@([A-Z]+)@@")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                 "\u2029": "\\u2029"}


def _asset(name: str) -> str:
    folder = resources.files(__package__).joinpath("assets")
    return folder.joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _assets() -> tuple[str, str, str]:
    """(template, style, script): the script is the files of ``SCRIPTS`` in one strict-mode
    function, so nothing leaks into the page's global scope."""
    script = "(function () {\n\"use strict\";\n" + "\n".join(_asset(n) for n in SCRIPTS) + "})();\n"
    style = _asset("report.css")
    for name, text, closing in (("script", script, "</script"), ("style", style, "</style")):
        if closing in text.lower():
            raise AssertionError(f"the report's {name} contains {closing!r}")
    return _asset("report.html"), style, script


def embed_json(value: Any) -> str:
    """``value`` as JSON that is safe inside a ``<script>`` element of an HTML page."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return re.sub("[<>&\u2028\u2029]", lambda m: _JSON_ESCAPES[m.group()], text)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def render_page(data: Any, title: str, version: str) -> str:
    """The HTML page for ``data`` (``payload()``'s dict)."""
    template, style, script = _assets()
    policy = (f"default-src 'none'; style-src {_sha256(style)}; script-src {_sha256(script)}; "
              "base-uri 'none'; form-action 'none'")
    slots = {"POLICY": policy, "VERSION": html.escape(version), "TITLE": html.escape(title),
             "STYLE": style, "SCRIPT": script, "DATA": embed_json(data)}
    return _SLOT.sub(lambda m: slots[m.group(1)], template)
