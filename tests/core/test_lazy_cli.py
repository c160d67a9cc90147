"""Lazy start-up (issue 32): ``ddpm-studio --help``, every command's ``--help`` and argument errors answer without
importing torch, numpy or Qt, and ``import ddpm_studio`` alone imports none of them.

Each check runs in a fresh interpreter (this test process has long imported torch) and reads ``sys.modules``
there, not a clock: what a help text costs is what it imports (``benchmarks/cli_latency.py`` has the timings).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Top-level packages a help text or an argument error must not import.
HEAVY = ("torch", "numpy", "PySide6", "shiboken6", "pyqtgraph", "PIL", "scipy", "safetensors")

#: Argument errors, one per kind argparse refuses: a bad type, an unknown choice, a missing required flag, a bad
#: list argument, a bad comparison setting (checked by core/compare/settings.py), an unknown command.
ARGUMENT_ERRORS = (
    ["train", "--steps", "nope"],
    ["train", "--out", "run", "--model", "huge"],
    ["sample", "run"],
    ["evaluate", "run", "--methods", "nope"],
    ["evaluate", "run", "--spacing", "nope"],
    ["compare", "--out", "runs", "--settings", "bogus"],
    ["export", "run"],
    ["data"],
    ["data", "--download", "imagenet"],
    ["config"],
    ["train", "--out", "run", "--max-time", "soon"],
    ["lab", "nope"],
    ["lab"],
    ["lab", "solvers-nfe", "--resume", "--force"],
    ["nope"],
)

#: Runs the console script's entry point on every --help and argument error, its output swallowed, and prints
#: (exit status per argv, the heavy top-level packages then in sys.modules) as JSON.
_CLI_SCRIPT = """
import contextlib, io, json, sys
from ddpm_studio.__main__ import main
from ddpm_studio.cli import COMMANDS
argvs = [["--help"], ["--version"], ["lab", "--list"]] + [[name, "--help"] for name in COMMANDS]
argvs += json.loads(sys.argv[1])
codes = {}
for argv in argvs:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            codes[" ".join(argv)] = main(argv)
        except SystemExit as exc:  # argparse's exit, should one escape report_errors
            codes[" ".join(argv)] = exc.code
heavy = json.loads(sys.argv[2])
print(json.dumps({"codes": codes, "loaded": sorted({m.split(".")[0] for m in sys.modules} & set(heavy))}))
"""


def _run(script: str, *args: str) -> dict:
    """Run ``script`` in a fresh interpreter; its last stdout line, parsed as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cli_run() -> dict:
    """The exit statuses and loaded heavy packages of one interpreter that answered every help and error."""
    return _run(_CLI_SCRIPT, json.dumps(ARGUMENT_ERRORS), json.dumps(HEAVY))


def test_help_and_argument_errors_import_nothing_heavy(cli_run: dict) -> None:
    assert cli_run["loaded"] == [], f"--help / an argument error imported {cli_run['loaded']}"


def test_every_help_answers_and_every_argument_error_is_refused(cli_run: dict) -> None:
    codes = cli_run["codes"]
    from ddpm_studio.cli import COMMANDS

    assert {f"{name} --help" for name in COMMANDS} <= set(codes)  # every command's help was asked for
    helps = {argv: code for argv, code in codes.items() if argv.endswith(("--help", "--version", "--list"))}
    assert set(helps.values()) == {0}, helps
    errors = {argv: code for argv, code in codes.items() if argv not in helps}
    assert errors == {" ".join(argv): 2 for argv in ARGUMENT_ERRORS}


def test_import_ddpm_studio_imports_nothing_heavy() -> None:
    script = (
        "import json, sys, ddpm_studio; ddpm_studio.__version__; "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_catalog_names_what_the_generators_draw() -> None:
    """The catalog lists the point sets so a parser need not import numpy; the generators must hold exactly them."""
    from ddpm_studio.core import catalog
    from ddpm_studio.core.data import mixtures, toys

    assert tuple(toys._GENERATORS) == catalog.TOY_DATASETS
    assert tuple(mixtures._GENERATORS) == catalog.MIXTURE_DATASETS
    kinds = set(catalog.BUILTIN_DATASETS.values())
    assert kinds == {"points", "images"}
