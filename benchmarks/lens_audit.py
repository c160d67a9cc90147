"""Audit the quality verdict on sample sets with known faults (issue 27, MATH.md M42-M46).

For each built-in mixture and each sample set of :data:`ddpm_studio.core.scores.faults.FAULTS` (fresh draws,
training copies, modes shrunk to a third, collapse onto the centres, one mode dropped, a 5 % uniform haze), draw
``--seeds`` sets of ``--num`` samples with different seeds and judge each with :class:`QualityVerdict` against the
run's own data (load_dataset(name, seed=0), as a default run sees it). Prints a Markdown table: how often each set
read clean, and how often each lens failed it. Fresh draws must read clean every time, every fault never.

    OMP_NUM_THREADS=1 python benchmarks/lens_audit.py [--seeds 10] [--num 1000] [--json out.json]

``--false-alarms N`` instead judges N fresh sets (seeds 20,000 on) of every built-in 2-D data set (the mixtures
and the toys, modes or none) and prints how many read clean: the lenses' error rate on good samples.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from ddpm_studio.core.data import load_dataset
from ddpm_studio.core.data.mixtures import MIXTURE_DATASETS, MIXTURES, make_mixture
from ddpm_studio.core.data.toys import TOY_DATASETS, make_labelled_toy
from ddpm_studio.core.scores.faults import FAULTS
from ddpm_studio.core.scores.verdict import LENS_NAMES, QualityVerdict


def audit(name: str, seeds: int, num: int) -> dict[str, dict[str, int]]:
    """{fault: {"clean": count, lens: times it failed}} over ``seeds`` sample sets of ``num`` points."""
    dataset = load_dataset(name, seed=0)
    verdict = QualityVerdict(dataset)
    train = dataset.to_data_space(dataset.train).double().numpy()
    shift, scale = dataset.shift.double(), dataset.scale.double()
    table: dict[str, dict[str, int]] = {}
    for fault, draw in FAULTS.items():
        counts = {"clean": 0, **{lens: 0 for lens in LENS_NAMES}}
        for seed in range(seeds):
            # seeds far from the data set's own (0), so "fresh" never replays the training draw
            points = draw(MIXTURES[name], num, np.random.default_rng(10_000 + seed), train)
            result = verdict.judge((torch.from_numpy(points) - shift) / scale)
            counts["clean"] += int(result.clean)
            for lens in result.failed:
                counts[lens] += 1
        table[fault] = counts
    return table


def false_alarms(seeds: int, num: int) -> None:
    """Print, per built-in 2-D data set, how many of ``seeds`` fresh sets read clean and which lenses failed."""
    print("| data | modes | clean | failed |")
    print("|---|---|---|---|")
    for name in (*MIXTURE_DATASETS, *TOY_DATASETS):
        dataset = load_dataset(name, seed=0)
        verdict = QualityVerdict(dataset)
        clean, failed = 0, {}
        for seed in range(seeds):
            raw = (make_mixture(name, num, 20_000 + seed) if name in MIXTURE_DATASETS
                   else make_labelled_toy(name, num, 20_000 + seed)[0])
            result = verdict.judge((torch.from_numpy(np.asarray(raw, np.float64)) - dataset.shift.double())
                                   / dataset.scale.double())
            clean += int(result.clean)
            for lens in result.failed:
                failed[lens] = failed.get(lens, 0) + 1
        print(f"| {name} | {result.modes or 'none known'} | {clean}/{seeds} | "
              f"{', '.join(f'{k} {v}' for k, v in failed.items()) or '-'} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--num", type=int, default=1000, help="samples per set (default 1000, the early-stop check)")
    parser.add_argument("--mixtures", default=",".join(MIXTURES))
    parser.add_argument("--json", help="also write the counts here")
    parser.add_argument("--false-alarms", type=int, metavar="N", help="judge N fresh sets of every built-in set")
    args = parser.parse_args()
    if args.false_alarms:
        false_alarms(args.false_alarms, args.num)
        return
    started = time.perf_counter()
    report = {}
    print(f"{args.seeds} sets of {args.num} samples per row; cells: sets that read clean / that each lens failed\n")
    print("| data | samples | clean | " + " | ".join(LENS_NAMES) + " |")
    print("|---|---|---|" + "---|" * len(LENS_NAMES))
    for name in args.mixtures.split(","):
        report[name] = audit(name, args.seeds, args.num)
        for fault, counts in report[name].items():
            cells = " | ".join(str(counts[lens]) for lens in LENS_NAMES)
            print(f"| {name} | {fault} | {counts['clean']}/{args.seeds} | {cells} |")
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"seeds": args.seeds, "num": args.num, "audit": report}, handle, indent=2)


if __name__ == "__main__":
    main()
