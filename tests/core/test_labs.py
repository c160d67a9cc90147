"""Labs (issue 29): the verdict rules fed fixed measurements, the recipe format, the report files, resume, the CLI.

The rules are checked against hand-computed gaps and margins (M60-M62); two labs run end to end at tiny settings
(a few training steps: the verdict then means nothing, the files and the bookkeeping are what is tested).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ddpm_studio.core.io.chart import error_bar_chart
from ddpm_studio.core.io.runs import RunError
from ddpm_studio.core.labs import LAB_MODULES, UnknownLab, all_recipes, get_recipe
from ddpm_studio.core.labs.kadkhodaie2024_twins import twin_distance
from ddpm_studio.core.labs.report import read_report
from ddpm_studio.core.labs.rules import (
    DOES_NOT_HOLD,
    HOLDS,
    INCONCLUSIVE,
    AtMost,
    Below,
    CheckResult,
    combine,
    spread,
)
from ddpm_studio.core.labs.runner import LabFinished, LabFolderError, iter_lab
from ddpm_studio.core.scores.precision_recall import precision_recall


# ----------------------------------------------------------------------------------------------- the rules
def test_spread_is_the_sample_standard_deviation() -> None:
    values = [1.0, 2.5, 4.0, 0.5]
    assert spread(values) == pytest.approx(statistics.stdev(values))
    assert spread([3.0]) == 0.0


def test_below_holds_when_the_gap_exceeds_twice_the_spread_of_the_gaps() -> None:
    # gaps 1.0, 1.2, 0.8: mean 1.0, spread 0.2, margin max(0.4, 0.05 * 3) = 0.4 < 1.0
    rule = Below("a below b", "a", "b")
    result = rule.judge({"a": [2.0, 1.8, 2.2], "b": [3.0, 3.0, 3.0]})
    assert result.verdict == HOLDS
    assert result.gap == pytest.approx(1.0)
    assert result.margin == pytest.approx(0.4)
    assert "a 2 ± 0.2" in result.reason and "b 3 ± 0" in result.reason


def test_below_is_inconclusive_inside_the_margin_and_fails_the_other_way() -> None:
    rule = Below("a below b", "a", "b")
    # gaps 0.5, -0.3, 0.4: mean 0.2, spread ~0.44, margin ~0.87
    assert rule.judge({"a": [1.0, 1.8, 1.1], "b": [1.5, 1.5, 1.5]}).verdict == INCONCLUSIVE
    assert rule.judge({"a": [3.0, 3.1, 2.9], "b": [1.0, 1.0, 1.0]}).verdict == DOES_NOT_HOLD


def test_the_minimum_effect_keeps_a_tiny_steady_gap_from_deciding() -> None:
    # the same tiny gap on every seed has zero spread: only min_effect (5 % of 10 = 0.5) stops it from "holding"
    rule = Below("a below b", "a", "b")
    assert rule.judge({"a": [9.9, 9.9, 9.9], "b": [10.0, 10.0, 10.0]}).verdict == INCONCLUSIVE
    assert Below("x", "a", "b", min_effect=0.0).judge({"a": [9.9] * 3, "b": [10.0] * 3}).verdict == HOLDS


def test_or_equal_holds_unless_clearly_worse() -> None:
    rule = Below("a matches or beats b", "a", "b", or_equal=True)
    assert rule.judge({"a": [1.0, 1.05, 0.95], "b": [1.0, 1.0, 1.0]}).verdict == HOLDS
    assert rule.judge({"a": [2.0, 2.1, 1.9], "b": [1.0, 1.0, 1.0]}).verdict == DOES_NOT_HOLD


def test_a_diverged_run_counts_as_worse_and_nan_as_unknown() -> None:
    rule = Below("a below b", "a", "b")
    assert rule.judge({"a": [1.0, 1.0, 1.0], "b": [math.inf, math.inf, math.inf]}).verdict == HOLDS
    assert rule.judge({"a": [1.0, math.nan, 1.0], "b": [2.0, 2.0, 2.0]}).verdict == INCONCLUSIVE
    assert rule.judge({"a": [1.0, 1.0, 1.0]}).verdict == INCONCLUSIVE  # b never measured


def test_at_most_reads_the_seeds_against_the_bound() -> None:
    rule = AtMost("x at most 2", "x", 2.0)
    assert rule.judge({"x": [1.0, 1.1, 0.9]}).verdict == HOLDS  # 1 + 2 * 0.1 <= 2
    assert rule.judge({"x": [3.0, 3.1, 2.9]}).verdict == DOES_NOT_HOLD  # 3 - 0.2 > 2
    assert rule.judge({"x": [1.0, 3.0, 2.0]}).verdict == INCONCLUSIVE  # 2 +- 2 straddles it


def test_combine_needs_every_check_to_hold_and_any_failure_fails() -> None:
    def check(verdict: str) -> CheckResult:
        return CheckResult(verdict, verdict, f"because {verdict}", 0.0, 0.0)

    assert combine([check(HOLDS), check(HOLDS)])[0] == HOLDS
    assert combine([check(HOLDS), check(INCONCLUSIVE)])[0] == INCONCLUSIVE
    verdict, reason = combine([check(INCONCLUSIVE), check(DOES_NOT_HOLD)])
    assert verdict == DOES_NOT_HOLD and "because does not hold" in reason
    assert combine([])[0] == INCONCLUSIVE


# ----------------------------------------------------------------------------------------------- the recipes
def test_every_lab_has_a_complete_recipe_with_at_least_three_seeds() -> None:
    recipes = all_recipes()
    assert [r.name for r in recipes] == list(LAB_MODULES) and len(recipes) == 7
    for recipe in recipes:
        for text in (recipe.paper, recipe.source, recipe.claim, recipe.paper_numbers, recipe.metric):
            assert text.strip(), recipe.name
        assert recipe.rules, recipe.name
        for budget in (recipe.quick, recipe.full):
            assert len(budget.seeds) >= 3 and len(set(budget.seeds)) == len(budget.seeds), recipe.name
            assert budget.minutes > 0
        assert recipe.quick.minutes <= 10.0, f"{recipe.name}: the quick budget must fit 10 minutes"
        assert set(recipe.quick.settings) == set(recipe.full.settings), recipe.name
        for rule in recipe.rules:
            assert rule.text()


def test_an_unknown_lab_lists_the_names() -> None:
    with pytest.raises(UnknownLab, match="ho2020-table2.*flow-vs-ddpm"):
        get_recipe("ho2021")


def test_listing_the_labs_imports_no_torch() -> None:
    script = ("import json, sys; from ddpm_studio.core.labs import all_recipes; all_recipes(); "
              "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'numpy', 'PIL'})))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


# ----------------------------------------------------------------------------------------------- measures
def test_precision_and_recall_against_closed_cases() -> None:
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(400, 2, generator=generator)
    assert precision_recall(real, real.clone()) == (1.0, 1.0)
    far = real + 100.0
    assert precision_recall(real, far) == (0.0, 0.0)
    # every sample on one real point: all realistic, almost nothing of the data covered
    collapsed = real[:1].repeat(50, 1) + 1e-6 * torch.randn(50, 2, generator=generator)
    precision, recall = precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.05


def test_twin_distance_is_zero_for_twins_and_near_one_for_strangers() -> None:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 2, generator=generator)
    assert twin_distance(a, a.clone(), generator) == 0.0
    b = torch.randn(2000, 2, generator=generator)
    assert twin_distance(a, b, generator) == pytest.approx(1.0, abs=0.05)


def test_the_chart_draws_finite_infinite_and_missing_points() -> None:
    image = error_bar_chart(["a", "b", "c"], {"s": [(1.0, 0.1), (math.inf, math.nan), (math.nan, 0.0)]}, "t", "y",
                            reference=(0.5, "real"))
    assert image.dtype.name == "uint8" and image.shape == (420, 760, 3)
    assert (image < 250).any()


# ----------------------------------------------------------------------------------------------- running labs
TWINS_TINY = {"steps": 4, "samples": 32, "sizes": (8, 2048)}


@pytest.fixture(scope="module")
def twins_lab(tmp_path_factory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("labs") / "twins"
    events = list(iter_lab("kadkhodaie2024-twins", "quick", out, settings=TWINS_TINY, seeds=(0, 1)))
    return out, events


def test_a_lab_writes_its_report_plots_and_runs(twins_lab) -> None:
    out, events = twins_lab
    finished = events[-1]
    assert isinstance(finished, LabFinished)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for key in ("lab", "claim", "paper", "setting", "measurements", "verdict", "reason"):
        assert key in report
    assert report["lab"] == "kadkhodaie2024-twins" and report["verdict"] in (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE)
    assert report["setting"]["seeds"] == [0, 1] and report["setting"]["steps"] == 4
    for rule in get_recipe("kadkhodaie2024-twins").rules:
        for name in rule.names:  # every quantity a rule reads was measured on every seed
            assert report["measurements"][name]["seeds"] == [0, 1]
    assert report["plots"] == ["twins.png"] and (out / "twins.png").read_bytes()[:4] == b"\x89PNG"
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert report["verdict"].upper() in markdown and "fixed before the run" in markdown
    assert len(list((out / "runs").iterdir())) == 2 * 2 * 2  # seeds x sizes x twins
    progress = [e.overall for e in events[:-1]]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0, abs=0.05)
    assert read_report(out)["verdict"] == report["verdict"]


def test_resume_reuses_the_trained_runs_and_gives_the_same_numbers(twins_lab) -> None:
    out, _ = twins_lab
    before = json.loads((out / "report.json").read_text(encoding="utf-8"))["measurements"]
    events = list(iter_lab("kadkhodaie2024-twins", "quick", out, resume=True, settings=TWINS_TINY, seeds=(0, 1)))
    stages = [e.stage for e in events[:-1]]
    assert not any("train" in s and "reused" not in s for s in stages if "twin" in s and "samples" not in s)
    assert sum("(reused)" in s for s in stages) == 8
    assert events[-1].report["measurements"] == before


def test_a_folder_of_this_lab_needs_resume_or_force(twins_lab, tmp_path) -> None:
    out, _ = twins_lab
    with pytest.raises(LabFolderError, match="--resume.*--force"):
        next(iter_lab("kadkhodaie2024-twins", "quick", out))
    with pytest.raises(LabFolderError, match="kadkhodaie2024-twins"):
        next(iter_lab("solvers-nfe", "quick", out))
    stranger = tmp_path / "mine"
    stranger.mkdir()
    (stranger / "thesis.tex").write_text("keep me", encoding="utf-8")
    with pytest.raises(LabFolderError, match="not empty"):
        next(iter_lab("solvers-nfe", "quick", stranger))
    assert (stranger / "thesis.tex").read_text(encoding="utf-8") == "keep me"


def test_a_corrupt_report_is_refused_in_words(tmp_path) -> None:
    (tmp_path / "report.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(RunError, match="not a readable lab report"):
        read_report(tmp_path)
    (tmp_path / "report.json").write_text(json.dumps({"lab": "x"}), encoding="utf-8")
    with pytest.raises(RunError, match="lacks"):
        read_report(tmp_path)


def test_flow_vs_ddpm_runs_the_reflow_end_to_end(tmp_path) -> None:
    tiny = {"steps": 4, "pairs": 64, "reflow_steps": 4}
    events = list(iter_lab("flow-vs-ddpm", "quick", tmp_path / "flow", settings=tiny, seeds=(0,)))
    report = events[-1].report
    assert {"ddpm@100", "flow@100", "straightness reflow", "reflow euler@2", "flow euler@1"} <= set(
        report["measurements"])
    assert (tmp_path / "flow" / "runs" / "reflow-seed0" / "couplings.npz").exists()
    assert len(report["checks"]) == 4


# ----------------------------------------------------------------------------------------------- the CLI
def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ddpm_studio", *argv], capture_output=True, text=True,
                          timeout=300, check=False)


def test_cli_lists_the_labs_one_per_line() -> None:
    done = _cli("lab", "--list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == list(LAB_MODULES)


def test_cli_refuses_bad_input_in_one_line(tmp_path, twins_lab) -> None:
    out, _ = twins_lab
    for argv, pattern in ((("lab", "ho2021"), "the labs are: ho2020-table2"),
                          (("lab", "solvers-nfe", "--out", str(out)), "holds the report of lab"),
                          (("lab", "kadkhodaie2024-twins", "--out", str(out)), "--resume")):
        done = _cli(*argv)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error:") and pattern in done.stderr
