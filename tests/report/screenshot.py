"""Take a screenshot of a report with the browser tests' headless Chromium (network off):

    python -m tests.report.screenshot docs/report-example.html docs/report-example.png

The example of docs/report.md is made with
``python -m orchestrator run examples/analysis.yaml --report docs/report-example.html``, then
this. Exits 1 when the page logged an error or requested anything but itself.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from .browser import Browser


def screenshot(page: Path, png: Path) -> list[str]:
    """Save the whole of ``page`` as drawn to ``png``; returns what went wrong (nothing when
    the page drew without an error and loaded nothing)."""
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(Path(profile))
        try:
            browser.open(page)
            urls, failures = browser.network()
            problems = [*browser.console_errors(), *failures,
                        *(f"requested {u}" for u in urls if u != page.resolve().as_uri())]
            browser.screenshot(png)
        finally:
            browser.close()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="the report (.html)")
    parser.add_argument("png", type=Path, help="where to save the screenshot (.png)")
    args = parser.parse_args(argv)
    problems = screenshot(args.page, args.png)
    for problem in problems:
        print(f"{args.page}: {problem}", file=sys.stderr)
    print(f"{args.png}: {args.png.stat().st_size:,} bytes")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
