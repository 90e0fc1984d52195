"""Check hiermeta's layer contract: each module imports only from its own layer or lower ones.

Usage: ``python tools/check_layers.py [SRC]`` (default ``src``); exit 1 listing each violation.
Every import is checked, including those inside functions (a lazy import is still a
dependency). Rules:

1. Layers, lowest first: ``LAYERS`` below. A module may import its own layer and lower ones.
2. The engines do not import each other: ``engines.exact``, ``engines.nuts`` and
   ``engines.frequentist`` are separate (the registry and ``engines.api`` above them may name
   any engine).
3. The CLI uses the public API only: ``hiermeta`` itself, ``hiermeta.errors``, ``hiermeta.priors``.
4. No import cycle between modules (module-level imports only: a function-level import cannot
   deadlock an import).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

#: Packages by layer, lowest first; ``hiermeta`` (the package's __init__) is above them all.
LAYERS = [
    ["hiermeta.errors", "hiermeta._version", "hiermeta.constants"],
    ["hiermeta.data"],
    ["hiermeta.results"],
    ["hiermeta.priors"],
    ["hiermeta.engines"],
    ["hiermeta.analyses"],
    ["hiermeta.pipeline"],
    ["hiermeta.validation"],
    ["hiermeta.cli"],
]
ENGINES = ["hiermeta.engines.exact", "hiermeta.engines.nuts", "hiermeta.engines.frequentist"]
CLI_ALLOWED = ["hiermeta", "hiermeta.errors", "hiermeta.priors"]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer_of(module: str) -> int:
    """Index of the module's layer (the top-level package counts as the highest)."""
    for i, packages in enumerate(LAYERS):
        if any(_within(module, p) for p in packages):
            return i
    return len(LAYERS)


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path, module: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every hiermeta import of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            # "from pkg import x": x may be a submodule (resolved against the tree later)
            names = [f"{base}.{a.name}" for a in node.names]
        for name in names:
            if _within(name, "hiermeta"):
                out.append((name, node.lineno, id(node) in top_level))
    return out


def violations(src: Path) -> list[str]:
    """Every broken rule, as ``file:line: message``."""
    problems = []
    graph: dict[str, set[str]] = {}
    files = sorted((src / "hiermeta").rglob("*.py"))
    modules = {module_name(f, src) for f in files}
    for path in files:
        module = module_name(path, src)
        graph[module] = set()
        for target, line, top in imports(path, module):
            if target not in modules and target.rpartition(".")[0] in modules:
                target = target.rpartition(".")[0]  # "from pkg.mod import name": pkg.mod
            where = f"{path.relative_to(src)}:{line}"
            public = module == "hiermeta.cli" and target in CLI_ALLOWED
            if module != "hiermeta" and not public and layer_of(target) > layer_of(module):
                problems.append(
                    f"{where}: {module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
                )
            own = next((e for e in ENGINES if _within(module, e)), None)
            other = next((e for e in ENGINES if _within(target, e)), None)
            if own and other and own != other:
                problems.append(f"{where}: engine {own} imports another engine, {target}")
            if module == "hiermeta.cli" and target not in CLI_ALLOWED:
                problems.append(f"{where}: the CLI imports {target}; it may use only {CLI_ALLOWED}")
            if top and target != module:
                graph[module].add(target)
    problems += [f"import cycle: {' -> '.join(c)}" for c in _cycles(graph)]
    return problems


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (packages import
    their own submodules: a package's ``__init__`` and its children are not a cycle)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if _within(nxt, node):
                continue  # a package importing its own submodule
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                if not all(_within(c, cycle[0]) or _within(cycle[0], c) for c in cycle):
                    found.append(cycle)
            elif nxt in graph and nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def main(argv: list[str]) -> int:
    src = Path(argv[0]) if argv else Path("src")
    problems = violations(src)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} layer-contract violation(s); see tools/check_layers.py")
        return 1
    print("layer contract: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
