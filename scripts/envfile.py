"""Load the loanstream environment files the way ``scripts/env.sh`` does, for Python callers.

``.env`` if present, then ``.env.example``; a variable already in ``os.environ`` always wins.
Values may be quoted and may use ``${OTHER}`` references to variables defined earlier.
Only the KEY=VALUE variables are loaded: the derived Airflow settings (AIRFLOW_HOME,
AIRFLOW__*) come from ``scripts/env.sh`` (``scripts/env.sh .venv/bin/pytest`` has both).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_REF = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _expand(value: str, env: dict[str, str]) -> str:
    return _REF.sub(lambda m: env.get(m.group(1) or m.group(2), ""), value)


def parse_value(raw: str, env: dict[str, str]) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return _expand(raw[1:-1], env)
    raw = re.split(r"\s+#", raw, maxsplit=1)[0].strip()
    return _expand(raw, env)


def load(root: Path = ROOT, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Set every unset variable from the env files into ``environ``; return what was set."""
    env = os.environ if environ is None else environ
    added: dict[str, str] = {}
    for name in (".env", ".env.example"):
        path = root / name
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            match = _LINE.match(line.strip())
            if not match or match.group(1) in env:
                continue
            env[match.group(1)] = added[match.group(1)] = parse_value(match.group(2), env)
    return added
