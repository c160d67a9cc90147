"""Flow matching against DDPM on the 2-D mixtures, and one reflow: time to "clean", and few-step sampling.

    python benchmarks/flow_vs_ddpm.py                         # every mixture (about 5 min each on 2 cores)
    python benchmarks/flow_vs_ddpm.py --data spiral --json out.json

For each mixture, measured in one run on one machine:
1. DDPM with the default points settings, judged every --check-every steps by the full quality verdict (every lens,
   MATH.md M46) on samples of the early-stop check's sampler (what a DDPM run is judged by in training);
2. the flow with its default settings (``default_config(..., process="flow")``), judged the same way on samples
   of Euler at 20 NFE (issue 28's bar);
   each stops at its first clean check; the figure is the training time to it (checks excluded);
   and each is also judged once, at its last step, with the other kind of sampler (DDPM's deterministic
   DPM-Solver++(2M) at 20 NFE; the flow's stochastic SDE-DPM-Solver++(2M) at 100 NFE);
3. a reflow of the flow run (M56: --pairs couplings from Heun at 100 NFE, --reflow-steps steps from the parent's
   weights), judged on Euler at 2 NFE (and 1 NFE), with the straightness (M55) before and after.
The machine may be shared: the load average is printed with each row.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ddpm_studio.core.analysis.straightness import run_straightness  # noqa: E402
from ddpm_studio.core.config import default_config  # noqa: E402
from ddpm_studio.core.data import MIXTURE_DATASETS, load_dataset  # noqa: E402
from ddpm_studio.core.scores.verdict import QualityVerdict  # noqa: E402
from ddpm_studio.core.training.early_stop import CHECK_METHOD, CHECK_SPACING, CHECK_STEPS  # noqa: E402
from ddpm_studio.core.training.events import TrainingFinished  # noqa: E402
from ddpm_studio.core.training.reflow import COUPLINGS_NAME, draw_couplings, save_couplings  # noqa: E402
from ddpm_studio.core.training.trainer import Trainer  # noqa: E402

SAMPLES = 2000


def judge(trainer: Trainer, verdict: QualityVerdict, method: str, steps: int, spacing: str = "linspace"):
    x = trainer.pipeline().sample_final(SAMPLES, num_steps=steps, method=method, spacing=spacing, seed=1)
    return verdict.judge(x)


def time_to_clean(trainer: Trainer, verdict: QualityVerdict, every: int, sampler: tuple) -> dict:
    """Train, judging every ``every`` steps; stop at the first clean verdict. Seconds exclude the checks."""
    trained = 0.0
    history = []
    clean_at = None
    last = time.perf_counter()
    for event in trainer.train():
        checked = history[-1][0] if history else 0
        if trainer.step % every == 0 and trainer.step > checked:
            trained += time.perf_counter() - last
            v = judge(trainer, verdict, *sampler)
            history.append((trainer.step, v.clean, v.short()))
            last = time.perf_counter()
            if v.clean:
                clean_at = (trainer.step, trained)
                trainer.request_stop()
        if isinstance(event, TrainingFinished):
            break
    trained += time.perf_counter() - last
    return {"clean_step": clean_at[0] if clean_at else None, "clean_seconds": clean_at[1] if clean_at else None,
            "steps": trainer.step, "seconds": trained, "history": history}


def run_one(name: str, args: argparse.Namespace, workdir: Path) -> dict:
    dataset = load_dataset(name, seed=0)
    verdict = QualityVerdict(dataset, seed=0)
    row: dict = {"data": name, "load": os.getloadavg()[0]}
    # the other kind of sampler of each process, judged once at the end: DDPM's ODE at 20 NFE, the flow's SDE
    others = {"ddpm": ("dpmpp_2m", 20, "logsnr"), "flow": ("dpmpp_2m_sde", 100, "linspace")}
    for process, sampler in (("ddpm", (CHECK_METHOD, CHECK_STEPS, CHECK_SPACING)), ("flow", ("euler", 20))):
        config = default_config(name, "points", process)
        config.train.early_stop = False  # judged here, with every lens, at fixed steps
        trainer = Trainer(config, run_dir=workdir / f"{name}_{process}", dataset=dataset)
        row[process] = time_to_clean(trainer, verdict, args.check_every, sampler)
        row[process]["other_sampler"] = {"sampler": others[process],
                                         "verdict": judge(trainer, verdict, *others[process]).short()}
        print(name, process, row[process]["clean_step"], f"{row[process]['seconds']:.1f} s",
              row[process]["history"][-1], flush=True)
        if process == "flow":
            parent = trainer
    pipeline = parent.pipeline()
    row["straightness_before"] = run_straightness(pipeline).value
    started = time.perf_counter()
    x1, x0 = draw_couplings(pipeline, args.pairs, seed=0)
    config = default_config(name, "points", "flow")
    config.train.early_stop = False
    config.train.steps = args.reflow_steps
    config.process.couplings = COUPLINGS_NAME
    reflow_dir = workdir / f"{name}_reflow"
    reflow_dir.mkdir(parents=True)
    save_couplings(reflow_dir, x1, x0)
    reflow = Trainer(config, run_dir=reflow_dir, dataset=dataset)
    reflow.net.load_state_dict(parent.ema.model.state_dict())
    reflow.ema.model.load_state_dict(parent.ema.model.state_dict())
    for _ in reflow.train():
        pass
    row["reflow_seconds"] = time.perf_counter() - started
    row["straightness_after"] = run_straightness(reflow.pipeline()).value
    for nfe in (1, 2, 4):
        v = judge(reflow, verdict, "euler", nfe)
        row[f"reflow_euler{nfe}"] = {"clean": v.clean, "summary": v.short()}
        before = judge(parent, verdict, "euler", nfe)
        row[f"flow_euler{nfe}"] = {"clean": before.clean, "summary": before.short()}
    print(name, "straightness", f"{row['straightness_before']:.4f} -> {row['straightness_after']:.4f}",
          {k: v["clean"] for k, v in row.items() if k.startswith(("reflow_euler", "flow_euler"))}, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=",".join(MIXTURE_DATASETS))
    parser.add_argument("--check-every", type=int, default=500)
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--reflow-steps", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.data.split(","):
            rows.append(run_one(name, args, Path(tmp)))
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    print("\n| data | DDPM to clean | flow to clean (Euler 20) | straightness before -> after reflow "
          "| reflow Euler 1 / "
          "2 / 4 NFE clean | flow Euler 1 / 2 / 4 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        def cell(d):
            return f"step {d['clean_step']}, {d['clean_seconds']:.0f} s" if d["clean_step"] else \
                f"not clean by {d['steps']} ({d['history'][-1][2]})"
        flags = " / ".join("yes" if r[f"reflow_euler{n}"]["clean"] else "no" for n in (1, 2, 4))
        before = " / ".join("yes" if r[f"flow_euler{n}"]["clean"] else "no" for n in (1, 2, 4))
        print(f"| {r['data']} | {cell(r['ddpm'])} | {cell(r['flow'])} | {r['straightness_before']:.4f} -> "
              f"{r['straightness_after']:.4f} | {flags} | {before} |")


if __name__ == "__main__":
    main()
