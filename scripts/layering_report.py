#!/usr/bin/env python3
"""Print a Markdown report on how the `guanxi` package is layered.

A developer tool (no Django needed, standard library only): it parses every Python file under
`guanxi/` (migrations excluded) with `ast` and reports

- lines per module (the largest ones) and per app, with the share of the total;
- modules over the size limit;
- imports from `core` upward into an app (a Django app is a sub-package with an `apps.py`);
- import cycles between files: strongly connected components of the module import graph, which
  includes imports inside functions (they run too, only later), and the cycles between apps;
- imports inside functions.

Usage: `python scripts/layering_report.py [--root guanxi] [--top 25] [--limit 800]`. Run it
before and after a restructure to compare.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ImportEdge:
    source: str  # importing module
    target: str  # imported module (resolved to a module of the package)
    line: int
    in_function: bool


@dataclass
class Module:
    name: str
    path: Path
    lines: int
    is_package: bool
    imports: list[ImportEdge] = field(default_factory=list)
    function_imports: int = 0  # every import statement inside a function, internal or not


def collect_modules(root: Path) -> dict[str, Module]:
    modules = {}
    base = root.parent
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(base)
        if "migrations" in rel.parts or "__pycache__" in rel.parts:
            continue
        parts = list(rel.with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        name = ".".join(parts)
        text = path.read_text(encoding="utf-8")
        modules[name] = Module(name, path, len(text.splitlines()), is_package)
    return modules


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    if node.level > 1:
        package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def _known(name: str, modules: dict[str, Module]) -> str | None:
    """The longest prefix of a dotted name that is a module of the package."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def parse_imports(modules: dict[str, Module]) -> None:
    for module in modules.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
        _walk(tree, module, modules, in_function=False)


def _walk(node: ast.AST, module: Module, modules: dict[str, Module], in_function: bool) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            _walk(child, module, modules, in_function=True)
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            if in_function:
                module.function_imports += 1
            targets = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            else:
                base = _resolve(module, child)
                # `from a import b` imports the module a.b when there is one, else a name from a.
                targets = [f"{base}.{alias.name}" if base else alias.name for alias in child.names]
            seen = set()
            for target in targets:
                resolved = _known(target, modules)
                if resolved and resolved != module.name and resolved not in seen:
                    seen.add(resolved)
                    module.imports.append(ImportEdge(module.name, resolved, child.lineno, in_function))
        _walk(child, module, modules, in_function)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); returns the components with more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    result.append(sorted(component))
    return sorted(result, key=lambda c: (-len(c), c))


def group_of(name: str, packages: set[str]) -> str:
    """The top-level sub-package of a module, or "<root> (top-level modules)"."""
    parts = name.split(".")
    if len(parts) > 1 and f"{parts[0]}.{parts[1]}" in packages:
        return f"{parts[0]}.{parts[1]}"
    return f"{parts[0]} (top-level modules)"


def report(root: Path, top: int, limit: int) -> str:
    modules = collect_modules(root)
    parse_imports(modules)
    root_name = root.name
    packages = {name for name, m in modules.items() if m.is_package and name.count(".") == 1}
    apps = {
        f"{root_name}.{path.parent.name}" for path in root.glob("*/apps.py") if path.parent.name != "core"
    }
    core = f"{root_name}.core"
    total = sum(m.lines for m in modules.values())
    out = [f"# Layering report for `{root_name}/`", ""]
    out.append(
        f"Python files under `{root_name}/` excluding migrations: {len(modules)} modules, "
        f"{total:,} lines (physical lines, as `wc -l`)."
    )

    out += ["", f"## Largest modules (top {top})", "", "| module | lines |", "|---|---:|"]
    for m in sorted(modules.values(), key=lambda m: (-m.lines, m.name))[:top]:
        out.append(f"| `{m.path.relative_to(root.parent)}` | {m.lines:,} |")
    over = [m for m in modules.values() if m.lines > limit]
    out += ["", f"Modules over {limit} lines: {len(over)}"]
    out += [
        f"- `{m.path.relative_to(root.parent)}` ({m.lines:,})" for m in sorted(over, key=lambda m: -m.lines)
    ]

    per_group: dict[str, int] = defaultdict(int)
    for m in modules.values():
        per_group[group_of(m.name, packages)] += m.lines
    out += ["", "## Lines per package", "", "| package | lines | share |", "|---|---:|---:|"]
    for group, lines in sorted(per_group.items(), key=lambda kv: -kv[1]):
        out.append(f"| `{group}` | {lines:,} | {100 * lines / total:.1f} % |")

    edges = [e for m in modules.values() for e in m.imports]
    upward = [
        e
        for e in edges
        if (e.source == core or e.source.startswith(core + ".")) and group_of(e.target, packages) in apps
    ]
    out += ["", "## Upward imports from core into apps", "", f"Count: {len(upward)}", ""]
    for e in sorted(upward, key=lambda e: (e.source, e.line)):
        where = " (inside a function)" if e.in_function else ""
        out.append(f"- `{modules[e.source].path.relative_to(root.parent)}:{e.line}` → `{e.target}`{where}")

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for e in edges:
        graph[e.source].add(e.target)
    cycles = strongly_connected(graph)
    out += [
        "",
        "## Import cycles between files",
        "",
        "Strongly connected components of the module import graph (imports inside functions "
        f"included): {len(cycles)} components, {sum(len(c) for c in cycles)} modules.",
        "",
    ]
    for i, component in enumerate(cycles, 1):
        members = set(component)
        inner = sorted(
            {
                (e.source, e.target, e.in_function)
                for e in edges
                if e.source in members and e.target in members
            }
        )
        out.append(f"{i}. {len(component)} modules: " + ", ".join(f"`{c}`" for c in component))
        for source, target, in_function in inner:
            out.append(f"   - `{source}` → `{target}`" + (" (in function)" if in_function else ""))

    group_graph: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        a, b = group_of(e.source, packages), group_of(e.target, packages)
        if a != b:
            group_graph[a].add(b)
            group_graph.setdefault(b, set())
    group_cycles = strongly_connected(dict(group_graph))
    out += ["", "### Cycles between packages", ""]
    out += ["- " + " ↔ ".join(f"`{g}`" for g in c) for c in group_cycles] or ["None."]
    pairs = sorted(
        (a, b) for a in group_graph for b in group_graph[a] if a < b and a in group_graph.get(b, ())
    )
    out += ["", "Pairs of packages importing each other:", ""]
    out += [f"- `{a}` ↔ `{b}`" for a, b in pairs] or ["None."]

    function_imports = sum(m.function_imports for m in modules.values())
    internal = [e for e in edges if e.in_function]
    out += [
        "",
        "## Imports inside functions",
        "",
        f"Import statements inside functions: {function_imports} "
        f"({len(internal)} of the import edges between modules of `{root_name}`).",
        "",
        "| module | imports inside functions |",
        "|---|---:|",
    ]
    for m in sorted(modules.values(), key=lambda m: (-m.function_imports, m.name)):
        if m.function_imports:
            out.append(f"| `{m.path.relative_to(root.parent)}` | {m.function_imports} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parent.parent
    parser.add_argument("--root", type=Path, default=here / "guanxi", help="package directory")
    parser.add_argument("--top", type=int, default=25, help="how many of the largest modules")
    parser.add_argument("--limit", type=int, default=800, help="size limit in lines")
    args = parser.parse_args(argv)
    sys.stdout.write(report(args.root.resolve(), args.top, args.limit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
