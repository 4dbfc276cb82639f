"""The layout is the architecture: the core (``plugins/loanstream`` outside ``airflow/``)
never imports Airflow, neither directly nor through anything it imports."""

from __future__ import annotations

import ast
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
