"""The governance sub-packages depend one way: ``../shared/tools/import_cycles.py`` reads absolute
imports only, so this check resolves relative ones (``from ..console import x``) too."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "governance"


def _package(parts: tuple[str, ...]) -> str:
    """``governance`` for a module of the top folder, ``governance.<sub>`` for one below it (as
    import_cycles.py counts packages, depth 2)."""
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


def _targets(path: Path) -> set[str]:
    """Modules ``path`` imports, as dotted names under ``governance`` (relative ones resolved)."""
    here = path.relative_to(ROOT.parent).with_suffix("").parts[:-1]  # the importing module's package
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else ()
            mod = tuple((node.module or "").split(".")) if node.module else ()
            if node.level:
                names = [base + mod + (a.name,) for a in node.names] if not mod else [base + mod]
            else:
                names = [mod]
        elif isinstance(node, ast.Import):
            names = [tuple(a.name.split(".")) for a in node.names]
        else:
            continue
        for n in names:
            n = n[1:] if n[:2] == ("alpr", "governance") else n
            if n and n[0] == "governance":
                out.add(".".join(n))
    return out


def package_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        src = _package(path.relative_to(ROOT.parent).with_suffix("").parts)
        for target in _targets(path):
            parts = tuple(target.split("."))
            dst = ".".join(parts[:2]) if len(parts) > 1 and (ROOT / parts[1]).is_dir() else "governance"
            if dst != src and not src.startswith(dst + ".") and not dst.startswith(src + "."):
                edges[src].add(dst)
    return edges


def test_the_resolver_sees_relative_imports():
    edges = package_edges()
    assert "governance.console" in edges["governance.api"], "governance/api/__init__.py mounts the console"


def test_no_two_package_cycle_among_the_governance_packages_relative_imports_included():
    edges = package_edges()
    cycles = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if a in edges.get(b, ())})
    assert cycles == [], f"two-package import cycles: {cycles}"
