"""docs/MATH.md defines every equation number that the code and the README cite, and README links resolve."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MATH = ROOT / "docs" / "MATH.md"

#: "M7", or a range "M14-M17" / "M1–M23" (hyphen or en dash).
CITATION = re.compile(r"\bM(\d{1,2})\b(?:\s*[-–]\s*M?(\d{1,2})\b)?")
#: An equation is introduced in bold at the start of its entry: "**M7 — ...".
DEFINITION = re.compile(r"\*\*M(\d{1,2})\b")


def cited_numbers(text: str) -> set[int]:
    """Every equation number in ``text``, ranges expanded."""
    numbers: set[int] = set()
    for match in CITATION.finditer(text):
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        numbers.update(range(first, last + 1))
    return numbers


def test_citation_parser_expands_ranges_and_skips_model_sizes() -> None:
    assert cited_numbers("M7; M14-M17, M1–M3 and 35.7M parameters, ~1M") == {1, 2, 3, 7, 14, 15, 16, 17}


def test_every_cited_equation_is_defined_in_math_md() -> None:
    sources = [*sorted((ROOT / "ddpm_studio").rglob("*.py")), ROOT / "README.md"]
    cited = set().union(*(cited_numbers(path.read_text(encoding="utf-8")) for path in sources))
    defined = {int(n) for n in DEFINITION.findall(MATH.read_text(encoding="utf-8"))}
    assert set(range(1, 24)) <= defined, "M1-M23 are the documented core"
    missing = sorted(cited - defined)
    assert not missing, f"cited but not introduced as **M<n> in docs/MATH.md: {missing}"


def test_readme_relative_links_point_at_files() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [t for t in re.findall(r"\]\(([^)\s]+)\)", readme) if "://" not in t and not t.startswith("#")]
    assert "docs/MATH.md" in targets
    missing = [t for t in targets if not (ROOT / t.split("#")[0]).exists()]
    assert not missing, f"README links to missing files: {missing}"
