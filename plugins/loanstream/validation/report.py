"""The self-contained HTML report of a validation: every check, its examples, the result JSON."""

from __future__ import annotations

import html
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loanstream.lendingclub.lines import describe_skipped
from loanstream.validation.expectations import SUITE_NAME
from loanstream.validation.result import ValidationResult, describe_example


def report_path(report_dir: Path | None, run_id: str | None) -> Path:
    """``<report_dir>/<run id, made safe>/validation.html`` (default dir from the settings)."""
    if report_dir is None:
        from loanstream.config import Settings

        report_dir = Settings.from_env().reports_dir or Path(".local/reports")
    name = run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"
    return Path(report_dir) / safe / "validation.html"


def script_json(payload: Any) -> str:
    """``payload`` as JSON that is safe inside ``<script>``: ``<``, ``>`` and ``&`` escaped as
    JSON's own ``\\u003c`` etc., so ``</script>`` cannot end the element and ``JSON.parse`` of
    the element's text gives ``payload`` back."""
    text = json.dumps(payload, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_report(result: ValidationResult, path: Path, line_ending: str = "") -> Path:
    """Write a self-contained HTML report of every check and return its path.

    It quotes cell values: the report and its folder are the owner's only (0600, 0700),
    whatever the umask."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    rows = "\n".join(_report_row(check) for check in _report_order(result.checks))
    verdict = "PASSED" if result.success else "FAILED"
    colour = "#1a7f37" if result.success else "#cf222e"
    skipped = (
        f"<p>{html.escape(describe_skipped(result.skipped_lines))}. Line numbers are the "
        "file's own lines (line 1 is the first line of the file).</p>"
        if result.skipped_lines
        else ""
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>loanstream validation {verdict}: {html.escape(Path(result.path).name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }}
.failed {{ background: #ffebe9; }} .warning {{ background: #fff8c5; }}
.passed {{ color: #57606a; }} code {{ font-size: 90%; }}
</style></head><body>
<h1 style="color: {colour}">Validation {verdict}</h1>
<p>File <code>{html.escape(result.path)}</code>: {result.rows} data rows in {result.chunks}
chunk(s), {len(result.failed)} critical check(s) failed, {len(result.warnings)} warning(s),
{result.seconds:.1f}s. Line endings: {html.escape(line_ending)}. Suite
<code>{SUITE_NAME}</code> (Great Expectations Core). Rows are 1-based data rows (row 1 is the
first line after the header).</p>
{skipped}
<table><thead><tr><th>status</th><th>kind</th><th>check</th><th>expectation</th>
<th>column</th><th>rule</th><th>unexpected</th><th>examples (row: value)</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<script type="application/json" id="result">{script_json(result.to_dict())}</script>
</body></html>
"""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # also when it existed
    with open(fd, "w", encoding="utf-8") as out:
        out.write(page)
    return path


def _report_order(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rank = {"failed": 0, "warning": 1, "passed": 2}
    return sorted(checks, key=lambda c: rank.get(c["status"], 3))


def _report_row(check: dict[str, Any]) -> str:
    examples = "<br>".join(html.escape(describe_example(ex)) for ex in check["examples"])
    if check.get("details"):
        examples = html.escape(check["details"]) + ("<br>" + examples if examples else "")
    cells = [
        check["status"],
        check["kind"],
        check["check"],
        f"<code>{check['expectation']}</code>",
        html.escape(check["column"] or "(table)"),
        html.escape(check["rule"]),
        str(check["unexpected_count"]),
    ]
    css = check["status"].split(":")[0]
    return (
        f'<tr class="{css}">'
        + "".join(f"<td>{c}</td>" for c in cells)
        + f"<td>{examples}</td></tr>"
    )
