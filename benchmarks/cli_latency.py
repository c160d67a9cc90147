"""How long ``ddpm-studio --help``, ``train --help``, ``evaluate --help`` and an argument error take, against a bare
``python -c pass`` (issue 32: within 1 s of it).

Every command is a fresh process, timed from start to exit; the commands take turns in each round (interleaved, so
a busy moment of the machine falls on all of them alike) and each row reports the median and the fastest of
``--repeats`` rounds. ``ddpm-studio`` is the console script installed beside this interpreter (not a pyenv shim,
whose own start-up is not ours). ``--before DIR`` also times the same commands on an older tree in DIR, put first
on PYTHONPATH, e.g. ``git archive <commit> ddpm_studio resources | tar -x -C DIR``.

    python benchmarks/cli_latency.py [--repeats 7] [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The answer a user waits for may take this long beyond a bare interpreter's start (issue 32).
TARGET_SECONDS = 1.0

#: (label, ddpm-studio arguments, expected exit status).
COMMANDS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("ddpm-studio --help", ("--help",), 0),
    ("ddpm-studio train --help", ("train", "--help"), 0),
    ("ddpm-studio evaluate --help", ("evaluate", "--help"), 0),
    ("ddpm-studio train --steps nope", ("train", "--steps", "nope"), 2),
)


@dataclass
class Case:
    """One command line to time, with the environment it runs in and what it must exit with."""

    label: str
    tree: str
    argv: list[str]
    expected: int
    env: dict[str, str]
    seconds: list[float] = field(default_factory=list)


def console_script() -> list[str]:
    """The installed ``ddpm-studio`` next to this interpreter, else ``python -m ddpm_studio``."""
    script = Path(sys.executable).with_name("ddpm-studio")
    if script.is_file():
        return [str(script)]
    found = shutil.which("ddpm-studio")
    print(f"note: no ddpm-studio beside {sys.executable}; timing python -m ddpm_studio (found on PATH: {found})")
    return [sys.executable, "-m", "ddpm_studio"]


def tree_env(tree: Path | None) -> dict[str, str]:
    """The environment that makes ``import ddpm_studio`` load ``tree`` (None: the installed checkout)."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
    return env


def loaded_from(env: dict[str, str]) -> str:
    """Where ``ddpm_studio`` is imported from under ``env`` (to be sure which tree a row times).

    Asked from the temporary folder: ``python -c`` puts its working folder first on sys.path, the console script
    does not, so a checkout as the working folder would answer for itself.
    """
    done = subprocess.run([sys.executable, "-c", "import ddpm_studio; print(ddpm_studio.__file__)"], env=env,
                          cwd=tempfile.gettempdir(), capture_output=True, text=True, check=True)
    return str(Path(done.stdout.strip()).parent)


def time_once(case: Case) -> float:
    """Seconds from starting ``case`` to its exit; its exit status is checked."""
    start = time.perf_counter()
    done = subprocess.run(case.argv, env=case.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != case.expected:
        raise SystemExit(f"{case.label} ({case.tree}) exited {done.returncode}, expected {case.expected}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds; each command runs once per round")
    parser.add_argument("--before", type=Path, help="an older tree to time beside this one (see above)")
    args = parser.parse_args()

    trees: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.before is not None:
        trees.insert(0, ("before", args.before.resolve()))
    bare = Case("python -c pass", "-", [sys.executable, "-c", "pass"], 0, tree_env(None))
    cases = [bare]
    for name, tree in trees:
        env = tree_env(tree)
        print(f"{name}: ddpm_studio from {loaded_from(env)}")
        cases += [Case(label, name, [*console_script(), *argv], code, env) for label, argv, code in COMMANDS]

    for case in cases:  # one unmeasured round: the file cache holds every module before any timing
        time_once(case)
    for _ in range(args.repeats):
        for case in cases:
            case.seconds.append(time_once(case))

    base = statistics.median(bare.seconds)
    print(f"\n{args.repeats} interleaved rounds on {os.cpu_count()} cores; seconds, median (fastest); "
          f"target: at most {TARGET_SECONDS:g} s beyond bare python\n")
    print("| command | tree | median s | fastest s | beyond bare python s | within target |")
    print("| --- | --- | --- | --- | --- | --- |")
    for case in cases:
        median = statistics.median(case.seconds)
        extra = median - base
        verdict = "-" if case is bare else ("yes" if extra <= TARGET_SECONDS else "no")
        print(f"| `{case.label}` | {case.tree} | {median:.3f} | {min(case.seconds):.3f} | "
              f"{'-' if case is bare else f'{extra:+.3f}'} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
