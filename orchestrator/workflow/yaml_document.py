"""Read a YAML workflow: PyYAML's safe loader, bounded, with the line of every place.

The node graph is checked before anything is built from it, because YAML aliases make a small
file a large (or endless) document: ``args: &x [1, *x]`` refers to itself, and nine levels of
"billion laughs" aliases stand for 10**9 nodes that every later stage would walk. A recursive
alias is refused with its place; aliases may add at most ``MAX_ALIAS_NODES`` nodes to those
written in the file. Merge keys (``<<: *defaults``) work as PyYAML defines them, an explicit key
overriding a merged one; lines are mapped from the nodes as written, before the loader folds the
merged keys in (it rewrites the nodes in place), so only a key written twice is "given twice".
"""

from __future__ import annotations

from typing import Any

from .documents import Document, checked, refused
from .problems import Path, Problem, WorkflowError

__all__ = ["parse_yaml", "MAX_ALIAS_NODES"]

MAX_ALIAS_NODES = 100_000


def parse_yaml(text: str, source: str) -> Document:
    try:
        import yaml
    except ImportError:
        raise WorkflowError([Problem(source, "reading YAML needs PyYAML (pip install PyYAML); "
                                             "or write the workflow as JSON or TOML")]) from None
    loader = None
    try:  # the loader's constructor reads the text: a control character fails right there
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        lines: dict[Path, int] = {}
        if node is not None:
            _check_aliases(yaml, node, source)
            _map_yaml_lines(yaml, node, lines, source)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise WorkflowError([Problem(source, f"invalid YAML: {what}",
                                     line=mark.line + 1 if mark else None)]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
        raise WorkflowError([Problem(source, f"invalid YAML: {_reader_words(exc)}",
                                     line=line)]) from None
    except yaml.YAMLError as exc:
        raise WorkflowError([Problem(source, f"invalid YAML: {exc}")]) from None
    except (RecursionError, ValueError) as exc:  # nested too deep; an int of 4,300+ digits
        raise refused(source, "YAML", exc) from None
    finally:
        if loader is not None:
            loader.dispose()
    return checked(Document(source, data, lines))


def _reader_words(exc: Any) -> str:
    char = exc.character
    number = ord(char) if isinstance(char, str) else char
    code = f"#x{number:04x}" if isinstance(number, int) else repr(char)
    return f"character {code} is not allowed in YAML (even in a comment): {exc.reason}"


def _check_aliases(yaml: Any, root: Any, source: str) -> None:
    """Refuse a node that contains itself, and aliases that expand past the bound.

    Sizes are counted once per node (post-order, iterative), so the check itself stays
    linear in the nodes written, however many an alias expansion would visit."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, Path, bool]] = [(root, (), False)]
    while stack:
        node, path, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c, _ in _children(yaml, node, path))
            continue
        if key in size:
            continue
        if key in on_path:
            raise WorkflowError([Problem(
                source, "recursive alias: this node contains itself through an alias, which "
                        "no workflow can hold", path, node.start_mark.line + 1)])
        on_path.add(key)
        stack.append((node, path, True))
        stack.extend((c, p, False) for c, p in _children(yaml, node, path))
    written = _distinct(yaml, root)
    if size[id(root)] - written > MAX_ALIAS_NODES:
        raise WorkflowError([Problem(
            source, f"aliases expand this document to {size[id(root)]:,} nodes from the "
                    f"{written:,} written; at most {MAX_ALIAS_NODES:,} more are allowed "
                    f"(is it a 'billion laughs' file?)")])


def _children(yaml: Any, node: Any, path: Path) -> list[tuple[Any, Path]]:
    if isinstance(node, yaml.MappingNode):
        out: list[tuple[Any, Path]] = []
        for k, v in node.value:
            label = k.value if isinstance(k, yaml.ScalarNode) else "?"
            out.extend(((k, path), (v, path + (str(label),))))
        return out
    if isinstance(node, yaml.SequenceNode):
        return [(item, path + (i,)) for i, item in enumerate(node.value)]
    return []


def _distinct(yaml: Any, root: Any) -> int:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(c for c, _ in _children(yaml, node, ()))
    return len(seen)


def _map_yaml_lines(yaml: Any, node: Any, lines: dict[Path, int], source: str) -> None:
    """Record the line of every place under ``node``; refuse keys written twice. Mutates."""
    duplicates: list[Problem] = []
    stack: list[tuple[Any, Path]] = [(node, ())]
    while stack:
        node, path = stack.pop()
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                    continue
                key = key_node.value
                sub = path + (key,)
                line = key_node.start_mark.line + 1
                if key in seen:
                    duplicates.append(Problem(source, "key given twice", sub, line))
                seen.add(key)
                lines[sub] = line  # a value's place is its key's line
                stack.append((value_node, sub))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                stack.append((item, path + (index,)))
    if duplicates:
        raise WorkflowError(sorted(duplicates, key=lambda p: p.line or 0))


_MERGE = "tag:yaml.org,2002:merge"
