"""Wall time from typing ``ddpm-studio train --data NAME`` to a clean model, start-up included (issue 32 part 4).

    python benchmarks/wall_to_clean.py                     # the seven built-in mixtures, one after another
    python benchmarks/wall_to_clean.py --data spiral,checker5 --json OUT.json

Each mixture runs the real command, ``ddpm-studio train --data NAME --out DIR --quiet`` with every default, in a
fresh process (interpreter start, imports, data, network, the run folder's writes: all counted). The only addition
is a hook, installed before the CLI runs, that reports each of the run's own early-stop checks (the quality verdict
of every lens, MATH.md M46, on the check's 1,000 samples) with the wall time since the parent launched the process.
"To clean" is the first check the verdict passes; the command's whole wall time (it trains on until the early stop
sees no more gain) is reported beside it. The target: at most 30 s to clean on this machine, every mixture.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIXTURES = ("gaussians8", "gaussians8_wide", "gaussians25", "gaussians25_wide", "spiral", "checker5", "annulus")

#: The child: install the hook, then run the CLI exactly as the console script does.
CHILD = r"""
import json, os, sys, time
launched = float(os.environ["WALL_TO_CLEAN_T0"])
from ddpm_studio.core.training import early_stop

_check = early_stop.EarlyStopper.check

def check(self, pipeline, step):
    result = _check(self, pipeline, step)
    record = {"step": step, "wall_s": time.time() - launched, "clean": result.clean,
              "failed": list(result.failed or ()), "sw_ratio": result.sw_ratio, "off_support": result.off_support}
    print("CHECK " + json.dumps(record), file=sys.stderr, flush=True)
    return result

early_stop.EarlyStopper.check = check
from ddpm_studio.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_one(name: str, out: Path, extra: list[str]) -> dict:
    """One ``ddpm-studio train`` of mixture ``name`` into ``out``: its checks, the first clean one, its wall time."""
    env = dict(os.environ)
    launched = time.time()
    env["WALL_TO_CLEAN_T0"] = repr(launched)
    command = [sys.executable, "-c", CHILD, "train", "--data", name, "--out", str(out), "--quiet", *extra]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.time() - launched
    checks = [json.loads(line[6:]) for line in done.stderr.splitlines() if line.startswith("CHECK ")]
    first_clean = next((c for c in checks if c["clean"]), None)
    return {
        "data": name,
        "returncode": done.returncode,
        "command_wall_s": wall,
        "checks": checks,
        "clean_step": first_clean["step"] if first_clean else None,
        "wall_to_clean_s": first_clean["wall_s"] if first_clean else None,
        "header": next((line for line in done.stderr.splitlines() if " | " in line), ""),
        "last_line": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=",".join(MIXTURES), help="comma-separated built-in mixtures")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--set", nargs="*", default=[], help="extra `ddpm-studio train` flags, e.g. --set=--steps=3000")
    args = parser.parse_args()
    rows = []
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.data.split(","):
            row = run_one(name, Path(tmp) / name, args.set)
            rows.append(row)
            clean = (f"clean at step {row['clean_step']:,}: {row['wall_to_clean_s']:.1f} s"
                     if row["clean_step"] else "not clean")
            checks = ", ".join(f"{c['step']}:{'clean' if c['clean'] else '+'.join(c['failed'])}@{c['wall_s']:.1f}s"
                               for c in row["checks"])
            print(f"{name:17s} {clean:32s} command {row['command_wall_s']:.1f} s (rc {row['returncode']}); "
                  f"checks {checks}", flush=True)
    met = sum(1 for r in rows if r["wall_to_clean_s"] is not None and r["wall_to_clean_s"] <= 30.0)
    print(f"clean within 30 s: {met} of {len(rows)}; load average at end: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "python": sys.version.split()[0]}, indent=1))


if __name__ == "__main__":
    main()
