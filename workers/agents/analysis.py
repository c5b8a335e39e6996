"""Source-code analysis agents for examples/analysis.yaml: index, scan in shards, merge, audit.

``index_sources`` lists the Python files under a root (``"stdlib"``: the running Python's
standard library) and returns them as a list of shards of similar size, so that one mapped task
(``{"$each": {"$ref": "index"}}``) scans each. ``analyze_shard`` parses each file of one shard
with ``ast`` and measures it (lines, definitions, docstrings, cyclomatic complexity per
function, imports): CPU-bound work that gains from running shards in parallel.
``merge_reports`` (the workflow's ``merge``) adds the shard reports up; ``audit_report`` (its
gate) checks that every indexed file was accounted for and that almost all of them parsed.

Every result is plain data (dicts, lists, numbers, strings), so it crosses the process
boundary and lands in ``--output`` as it is.
"""

from __future__ import annotations

import ast
import os
import sysconfig
from collections import Counter
from typing import Any, Iterable, Mapping

__all__ = ["index_sources", "analyze_shard", "measure_source", "merge_reports", "audit_report"]

DEFAULT_EXCLUDE = ("test", "tests", "idlelib", "site-packages", "__pycache__", ".venv", ".git")
COMPLEXITY_BUCKETS = ((5, "1-5"), (10, "6-10"), (20, "11-20"), (50, "21-50"), (None, "51+"))
MAX_PARSE_ERROR_RATIO = 0.01


def _root_path(root: str) -> str:
    return sysconfig.get_paths()["stdlib"] if root == "stdlib" else os.path.abspath(root)


def index_sources(root: str = "stdlib", shards: int = 8,
                  exclude: Iterable[str] = DEFAULT_EXCLUDE) -> list[dict[str, Any]]:
    """List ``*.py`` under ``root`` (skipping ``exclude`` directories) in ``shards`` shards:
    one dict per shard (its files, and the index's root, size and file count).

    Shards are balanced by bytes: largest file first, each to the lightest shard so far.
    """
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards!r}")
    base = _root_path(root)
    if not os.path.isdir(base):
        raise FileNotFoundError(f"source root {base!r} is not a directory")
    skip = set(exclude)
    files: list[tuple[int, str]] = []
    for folder, dirs, names in os.walk(base):
        dirs[:] = sorted(d for d in dirs if d not in skip)
        for name in sorted(names):
            if name.endswith(".py"):
                full = os.path.join(folder, name)
                files.append((os.path.getsize(full), os.path.relpath(full, base)))
    buckets: list[list[str]] = [[] for _ in range(shards)]
    weights = [0] * shards
    for size, rel in sorted(files, key=lambda f: (-f[0], f[1])):
        lightest = weights.index(min(weights))
        buckets[lightest].append(rel)
        weights[lightest] += size
    total = sum(size for size, _ in files)
    return [{"kind": "source-shard", "root": base, "shard": i, "shards": shards,
             "files_indexed": len(files), "bytes_indexed": total, "files": sorted(bucket)}
            for i, bucket in enumerate(buckets)]


_BRANCHES = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.IfExp, ast.ExceptHandler,
             ast.Assert)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _complexity(fn: ast.AST) -> int:
    """McCabe's number for one function: 1 + its decision points (nested defs not included)."""
    score = 1
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if isinstance(node, _SCOPES):
            continue
        if isinstance(node, _BRANCHES):
            score += 1
        elif isinstance(node, ast.BoolOp):
            score += len(node.values) - 1
        elif isinstance(node, ast.comprehension):
            score += 1 + len(node.ifs)
        elif isinstance(node, ast.match_case):
            score += 1
        stack.extend(ast.iter_child_nodes(node))
    return score


def measure_source(text: str | bytes, name: str = "<source>") -> dict[str, Any]:
    """Measure one module's source; raises SyntaxError (or ValueError) when it does not parse."""
    tree = ast.parse(text, filename=name)
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    lines = raw.splitlines()
    code = sum(1 for line in lines if line.strip() and not line.lstrip().startswith("#"))
    functions: list[tuple[int, str, int]] = []
    classes = documented = 0
    imports: Counter[str] = Counter()
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            qual = prefix
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qual = f"{prefix}{child.name}"
                documented += ast.get_docstring(child) is not None
                if isinstance(child, ast.ClassDef):
                    classes += 1
                else:
                    functions.append((_complexity(child), qual, child.lineno))
                qual += "."
            elif isinstance(child, ast.Import):
                imports.update(a.name.split(".")[0] for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                imports[child.module.split(".")[0]] += 1
            stack.append((child, qual))
    return {"lines": len(lines), "code_lines": code, "functions": functions,
            "classes": classes, "documented": documented, "imports": imports}


def _bucket(score: int) -> str:
    return next(label for limit, label in COMPLEXITY_BUCKETS if limit is None or score <= limit)


def analyze_shard(shard: Any, position: int | None = None, hotspots: int = 10,
                  ) -> dict[str, Any]:
    """Parse and measure every file of ``shard`` (one element of ``index_sources``' list; or,
    with ``position``, that list and the shard's position in it)."""
    if position is not None:
        shard = shard[position]
    base = shard["root"]
    files = shard["files"]
    number = shard["shard"]
    totals: Counter[str] = Counter()
    histogram: Counter[str] = Counter()
    imports: Counter[str] = Counter()
    worst: list[tuple[int, str, int]] = []
    errors: list[dict[str, str]] = []
    for rel in files:
        try:
            with open(os.path.join(base, rel), "rb") as fh:
                m = measure_source(fh.read(), rel)
        except (SyntaxError, ValueError, RecursionError, OSError) as exc:
            errors.append({"file": rel, "error": f"{type(exc).__name__}: {exc}"})
            continue
        totals.update(files=1, lines=m["lines"], code_lines=m["code_lines"],
                      functions=len(m["functions"]), classes=m["classes"],
                      documented=m["documented"])
        histogram.update(_bucket(score) for score, _, _ in m["functions"])
        imports.update(m["imports"])
        worst.extend((score, f"{rel}:{qual}", line) for score, qual, line in m["functions"])
    worst.sort(key=lambda w: (-w[0], w[1]))
    return {
        "kind": "shard-report", "shard": number, "indexed": len(files),
        **{k: totals[k] for k in ("files", "lines", "code_lines", "functions", "classes",
                                  "documented")},
        "complexity": dict(histogram),
        "hotspots": [{"function": name, "line": line, "complexity": score}
                     for score, name, line in worst[:hotspots]],
        "imports": dict(imports),
        "parse_errors": errors,
    }


def merge_reports(values: Mapping[str, Any]) -> dict[str, Any]:
    """The workflow's ``merge``: add up every shard report (``values``: task id -> value)."""
    reports = [v for v in values.values()
               if isinstance(v, dict) and v.get("kind") == "shard-report"]
    index = next((v[0] for v in values.values()
                  if isinstance(v, list) and v and isinstance(v[0], dict)
                  and v[0].get("kind") == "source-shard"), None)
    totals: Counter[str] = Counter()
    histogram: Counter[str] = Counter()
    imports: Counter[str] = Counter()
    hotspots: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for r in sorted(reports, key=lambda r: r["shard"]):
        totals.update({k: r[k] for k in ("indexed", "files", "lines", "code_lines", "functions",
                                         "classes", "documented")})
        histogram.update(r["complexity"])
        imports.update(r["imports"])
        hotspots.extend(r["hotspots"])
        errors.extend(r["parse_errors"])
    hotspots.sort(key=lambda h: (-h["complexity"], h["function"]))
    definitions = totals["functions"] + totals["classes"]
    return {
        "kind": "analysis-report",
        "root": index["root"] if index else None,
        "files_indexed": index["files_indexed"] if index else None,
        "shards_expected": index["shards"] if index else None,
        "shards": len(reports),
        **dict(totals),
        "docstring_coverage": round(totals["documented"] / definitions, 4) if definitions else 0,
        "complexity": {label: histogram[label] for _, label in COMPLEXITY_BUCKETS},
        "hotspots": hotspots[:10],
        "top_imports": dict(imports.most_common(15)),
        "parse_errors": errors,
    }


def audit_report(result: Any) -> tuple[bool, str]:
    """The workflow's gate: every indexed file is accounted for, and at most 1% failed to parse.

    ``result`` is the run's provisional ``OrchestrationResult``; ``result.merged`` is the
    output of ``merge_reports``.
    """
    report = result.merged
    if not isinstance(report, dict) or report.get("kind") != "analysis-report":
        return False, "no merged analysis report"
    if report["files_indexed"] is None:
        return False, "the index task produced nothing"
    if report["shards"] != report["shards_expected"]:
        return False, f"only {report['shards']} of {report['shards_expected']} shards reported"
    unparsable = len(report["parse_errors"])
    if report["files"] + unparsable != report["files_indexed"]:
        return False, (f"{report['files']} files analysed and {unparsable} unparsable, but "
                       f"{report['files_indexed']} indexed")
    if unparsable > MAX_PARSE_ERROR_RATIO * report["files_indexed"]:
        first = report["parse_errors"][0]
        return False, (f"{unparsable} of {report['files_indexed']} files do not parse "
                       f"(limit {MAX_PARSE_ERROR_RATIO:.0%}); first: {first['file']}: "
                       f"{first['error']}")
    worst = report["hotspots"][0] if report["hotspots"] else None
    hotspot = f"; most complex: {worst['function']} ({worst['complexity']})" if worst else ""
    return True, (f"{report['files']} files, {report['lines']} lines in {report['shards']} "
                  f"shards; {unparsable} unparsable; docstrings on "
                  f"{report['docstring_coverage']:.0%} of definitions{hotspot}")
