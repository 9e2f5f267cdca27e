#!/usr/bin/env python3
"""Check that every import inside img2gs points down its layers (top-level and function-level imports).

    cli -> pipeline -> preview -> viewgen -> shape -> training -> data -> proxy -> splat -> mesh_render -> core

`core` is the package's own top-level modules (cameras, posed_views, image_io, metrics, atomic, presets,
...). An import is fine within one layer or into a lower one; one into a higher layer is a back-edge.
BORROWED lists the back-edges that are known and not yet removed, with the reason; the check fails on
any other, and on a BORROWED entry that is no longer needed (so the list cannot go stale).

    python scripts/check_layers.py        # exit 0: no back-edge beyond BORROWED
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "img2gs"
LAYERS = ("cli", "pipeline", "preview", "viewgen", "shape", "training", "data", "proxy", "splat", "mesh_render", "core")
# (importing layer, imported module prefix): why the arrow still points up.
BORROWED: dict[tuple[str, str], str] = {}


def layer_of(module: str) -> str:
    if module == "img2gs.__main__":
        return "cli"  # `python -m img2gs` is the command line
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in LAYERS:
        return "core"
    return parts[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("img2gs."):
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("img2gs.")]
    return found


def back_edges() -> list[tuple[str, int, str, str, str]]:
    """(file, line, imported module, importing layer, imported layer) of every upward import."""
    rank = {name: k for k, name in enumerate(LAYERS)}
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = layer_of(module_name(path))
        for line, target in imports_of(path):
            if rank[layer_of(target)] < rank[source]:
                edges.append((str(path.relative_to(PACKAGE.parent)), line, target, source, layer_of(target)))
    return edges


def borrowed_key(source: str, target: str) -> tuple[str, str] | None:
    for layer, prefix in BORROWED:
        if layer == source and (target == prefix or target.startswith(prefix + ".")):
            return layer, prefix
    return None


def main() -> int:
    edges = back_edges()
    new = [e for e in edges if borrowed_key(e[3], e[2]) is None]
    used = {borrowed_key(e[3], e[2]) for e in edges} - {None}
    stale = sorted(set(BORROWED) - used)
    for file, line, target, source, target_layer in new:
        print(f"{file}:{line}: {source} imports {target} ({target_layer}, a layer above)")
    for layer, prefix in stale:
        print(f"BORROWED ({layer}, {prefix}) is no longer imported: remove it from scripts/check_layers.py")
    known = len(edges) - len(new)
    print(f"{len(new)} back-edge(s), {known} known ({len(used)} borrowed modules), {len(stale)} stale entries")
    return 1 if new or stale else 0


if __name__ == "__main__":
    sys.exit(main())
