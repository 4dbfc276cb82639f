"""The layout is the architecture.

- the core (``plugins/loanstream`` outside ``airflow/``) never imports Airflow, neither directly
  nor through anything it imports;
- each subpackage imports only the subpackages its ``__init__`` names on its ``May import:``
  line (the rules are written once, there), and those arrows run one way (no circle);
- the top-level modules (``config``, ``paths``, ``native``) import no subpackage, and at most
  eight modules stand at the top;
- no module imports another that imports it back, and no file outgrows its job (500 lines).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "loanstream"


def core_modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        if relative.parts[:2] == ("loanstream", "airflow"):
            continue
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        names.append(".".join(parts))
    return names


def airflow_imports(path: Path) -> list[str]:
    """Modules named in ``path``'s import statements that are Airflow or loanstream.airflow."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [
            name
            for name in names
            if name.split(".")[0] == "airflow" or name.startswith("loanstream.airflow")
        ]
    return found


def test_no_core_module_imports_airflow_in_its_source() -> None:
    offenders = {
        str(path.relative_to(PACKAGE.parent)): names
        for path in sorted(PACKAGE.rglob("*.py"))
        if "airflow" not in path.relative_to(PACKAGE).parts[:1] and (names := airflow_imports(path))
    }
    assert offenders == {}


def test_importing_the_whole_core_loads_no_airflow() -> None:
    """Also what the core's dependencies import (a subprocess: this session may hold Airflow)."""
    modules = core_modules()
    assert "loanstream.scoring.features" in modules and "loanstream.sink" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')"
        " or m.startswith('loanstream.airflow')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]", proc.stdout


TOP_LEVEL = {"__init__", "cli", "config", "paths", "native"}
MAX_TOP_LEVEL = 8
MAX_LINES = 500


def loanstream_imports(path: Path) -> set[str]:
    """Every ``loanstream.*`` module that ``path`` imports (at any depth of the file)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "loanstream"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "loanstream":
                continue
            for alias in node.names:  # ``from loanstream.x import y``: y may be a module
                child = f"{node.module}.{alias.name}"
                found.add(child if is_module(child) else node.module)
    return found


def is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def unit_of(module: str) -> str:
    """``loanstream.sink.app`` -> ``sink``; ``loanstream.config`` -> ``config``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def subpackages() -> list[str]:
    return sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


def allowed_imports(subpackage: str) -> set[str]:
    """The subpackages named on the ``May import:`` line of ``subpackage``'s docstring."""
    doc = ast.get_docstring(ast.parse((PACKAGE / subpackage / "__init__.py").read_text())) or ""
    match = re.search(r"^May import: (.*?)\.?(?:\n\n|\Z)", doc, re.M | re.S)
    assert match, f"loanstream/{subpackage}/__init__.py has no 'May import:' line"
    names = " ".join(match.group(1).split())
    if names.startswith("every subpackage"):
        return set(subpackages())
    if names.startswith("nothing"):
        return set()
    return {name.strip(" .") for name in names.split(",")}


def unit_graph() -> dict[str, dict[str, set[str]]]:
    """unit -> {imported unit: files that import it} for the whole package."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        me = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for module in loanstream_imports(path):
            other = unit_of(module)
            if other != me and not other.startswith("_"):
                graph.setdefault(me, {}).setdefault(other, set()).add(str(rel))
    return graph


def test_each_subpackage_imports_only_what_its_init_allows() -> None:
    graph = unit_graph()
    wrong = {
        f"{me} -> {other}": sorted(files)
        for me in subpackages()
        for other, files in graph.get(me, {}).items()
        if other not in TOP_LEVEL and other not in allowed_imports(me)
    }
    assert wrong == {}, "imports that the importer's May import: line does not allow"


def test_the_allowed_arrows_form_no_circle() -> None:
    """The rules themselves run one way: a topological order of the subpackages exists."""
    rules = {name: allowed_imports(name) - {name} for name in subpackages() if name != "airflow"}
    order: list[str] = []
    while rules:
        ready = sorted(n for n, deps in rules.items() if deps <= set(order))
        assert ready, f"a circle among the May import: lines of {sorted(rules)}"
        order += ready
        for name in ready:
            del rules[name]


def test_top_level_modules_import_no_subpackage() -> None:
    tops = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(tops) <= MAX_TOP_LEVEL and set(tops) <= TOP_LEVEL, tops
    graph = unit_graph()
    for top in TOP_LEVEL - {"cli", "__init__"}:
        assert set(graph.get(top, {})) <= {"config"}, (top, graph.get(top))


def test_no_module_imports_itself_back() -> None:
    """No circle between modules (what a lazy import inside a function once hid)."""
    modules: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        modules[name] = loanstream_imports(path)
    edges = {m: sorted(t for t in deps if t in modules and t != m) for m, deps in modules.items()}
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> None:
        for nxt in edges[node]:
            assert nxt not in trail, f"import circle: {' -> '.join(trail[trail.index(nxt):] + [nxt])}"
            if nxt not in done:
                visit(nxt, [*trail, nxt])
        done.add(node)

    for name in sorted(edges):
        if name not in done:
            visit(name, [name])


def test_no_file_outgrows_its_job() -> None:
    root = PACKAGE.parents[1]
    long = {
        str(p.relative_to(root)): n
        for p in [*PACKAGE.rglob("*.py"), *(root / "dags").glob("*.py")]
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
