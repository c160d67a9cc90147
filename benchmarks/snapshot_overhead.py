"""The cost of training snapshots on a default run: seconds per snapshot and in all, against training time.

    python benchmarks/snapshot_overhead.py [steps] [data]      # data: moons (default), digits, ...
"""

from __future__ import annotations

import sys
import tempfile
import time

from ddpm_studio.core.config import default_config
from ddpm_studio.core.training import trainer_samples
from ddpm_studio.core.training.trainer import Trainer


def main(steps: int = 3000, data: str = "moons") -> None:
    from ddpm_studio.core.data import BUILTIN_DATASETS

    config = default_config(data, BUILTIN_DATASETS[data])
    config.train.steps, config.train.early_stop = steps, False
    spent: list[float] = []
    original = trainer_samples.TrainerSamples._snapshot_event

    def timed(self):
        started = time.perf_counter()
        try:
            return original(self)
        finally:
            spent.append(time.perf_counter() - started)

    trainer_samples.TrainerSamples._snapshot_event = timed
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(config, run_dir=folder)
        started = time.perf_counter()
        for _ in trainer.train():
            pass
        wall = time.perf_counter() - started
        size = sum(p.stat().st_size for p in (trainer.run_dir / "snapshots").iterdir())
    total = sum(spent)
    print(f"{data}: {steps} steps in {wall:.1f} s; {len(spent)} snapshots (every {trainer.snapshots.interval} steps), "
          f"{1000 * total / len(spent):.1f} ms each, {total:.2f} s in all = {100 * total / wall:.1f} % of the run; "
          f"snapshots/ holds {size / 1024:.0f} KB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000, sys.argv[2] if len(sys.argv) > 2 else "moons")
