"""A lab's report: ``report.json`` (the keys other tools read) and ``report.md`` (for a person), written atomically.

report.json keys: "lab", "claim", "paper", "setting", "measurements", "verdict" ("holds" | "does not hold" |
"inconclusive"), "reason" (one sentence naming the numbers); and beside them "source", "paper_numbers",
"metric", "budget", "checks", "rules", "notes", "plots", "tables", "seconds", "finished".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ddpm_studio.core.io.runs import RunError, atomic_write_text
from ddpm_studio.core.labs.rules import VERDICTS, CheckResult, describe, mean, spread

REPORT_JSON, REPORT_MD = "report.json", "report.md"


def _number(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


def measurement_entries(per_seed: Mapping[str, Mapping[int, float]]) -> dict[str, dict[str, Any]]:
    """quantity -> {"seeds", "values", "mean", "spread"} (non-finite numbers as the strings "inf" / "nan")."""
    entries = {}
    for name, by_seed in per_seed.items():
        seeds = sorted(by_seed)
        values = [by_seed[s] for s in seeds]
        entries[name] = {"seeds": seeds, "values": [_number(v) for v in values], "mean": _number(mean(values)),
                         "spread": _number(spread(values))}
    return entries


def build_report(
    recipe,
    budget_name: str,
    setting: Mapping[str, Any],
    per_seed: Mapping[str, Mapping[int, float]],
    checks: Sequence[CheckResult],
    verdict: str,
    reason: str,
    notes: Sequence[str],
    plots: Sequence[str],
    tables: Mapping[str, Sequence[str]],
    seconds: float,
    finished: str,
) -> dict[str, Any]:
    """The report.json content (see the module docstring)."""
    if verdict not in VERDICTS:
        raise ValueError(f"a verdict is one of {VERDICTS}, not {verdict!r}")
    return {
        "lab": recipe.name,
        "claim": recipe.claim,
        "paper": recipe.paper,
        "source": recipe.source,
        "paper_numbers": recipe.paper_numbers,
        "metric": recipe.metric,
        "budget": budget_name,
        "setting": dict(setting),
        "rules": [rule.text() for rule in recipe.rules],
        "measurements": measurement_entries(per_seed),
        "checks": [check.to_dict() for check in checks],
        "verdict": verdict,
        "reason": reason,
        "notes": list(recipe.notes) + list(notes),
        "plots": list(plots),
        "tables": {title: list(lines) for title, lines in tables.items()},
        "seconds": round(seconds, 1),
        "finished": finished,
    }


def report_markdown(report: Mapping[str, Any]) -> str:
    """report.md: the claim, the setting, the rules fixed beforehand, the numbers, the verdict and the plots."""
    lines = [
        f"# Lab `{report['lab']}`: {report['verdict'].upper()}",
        "",
        f"**Paper.** {report['paper']}, {report['source']}.",
        "",
        f"**Claim.** {report['claim']}",
        "",
        f"**The paper's numbers.** {report['paper_numbers']}",
        "",
        f"**Metric.** {report['metric']}",
        "",
        f"**Verdict: {report['verdict']}.** {report['reason']}",
        "",
        "## Setting",
        "",
        f"Budget `{report['budget']}`, {report['seconds']:.0f} s, finished {report['finished']}.",
        "",
    ]
    lines += [f"- {key}: `{value}`" for key, value in report["setting"].items()]
    lines += ["", "## The rules (fixed before the run)", ""]
    lines += [f"- {text}" for text in report["rules"]]
    lines += ["", "## Checks", "", "| check | verdict | numbers |", "|---|---|---|"]
    lines += [f"| {c['claim']} | {c['verdict']} | {c['reason']} |" for c in report["checks"]]
    lines += ["", "## Measurements", "", "| quantity | per seed | mean ± spread |", "|---|---|---|"]
    for name, entry in report["measurements"].items():
        values = [float(v) for v in entry["values"]]
        per = ", ".join(f"{v:.4g}" if math.isfinite(v) else str(v) for v in values)
        lines.append(f"| {name} | {per} | {describe(values)} |")
    for title, table in report["tables"].items():
        lines += ["", f"## {title}", "", *table]
    if report["plots"]:
        lines += ["", "## Plots", ""]
        lines += [f"![{name}]({name})" for name in report["plots"]]
    if report["notes"]:
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, report: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write report.json and report.md into ``out_dir`` atomically; returns their paths."""
    json_path = atomic_write_text(out_dir / REPORT_JSON, json.dumps(report, indent=2, allow_nan=False) + "\n")
    md_path = atomic_write_text(out_dir / REPORT_MD, report_markdown(report))
    return json_path, md_path


def read_report(folder: str | Path) -> dict[str, Any]:
    """A lab folder's report.json, checked for the keys the studio shows (RunError naming what is wrong).

    Plain JSON: reading it runs nothing from the file."""
    path = Path(folder) / REPORT_JSON
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{folder} holds no lab report ({REPORT_JSON}); run a lab into it first") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path} is not a readable lab report: {exc}") from None
    if not isinstance(report, dict):
        raise RunError(f"{path} is not a lab report (not a JSON object)")
    missing = [k for k in ("lab", "claim", "paper", "setting", "measurements", "verdict", "reason") if k not in report]
    if missing:
        raise RunError(f"{path} is not a lab report: it lacks {', '.join(missing)}")
    if report["verdict"] not in VERDICTS:
        raise RunError(f"{path}: unknown verdict {report['verdict']!r}")
    return report
