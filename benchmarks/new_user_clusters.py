"""Issue 16's new user, replayed: clusters nobody tuned for, trained and sampled through the CLI with every default.

    python benchmarks/new_user_clusters.py                  # 6 clusters, seed 0, into a temporary folder
    python benchmarks/new_user_clusters.py --clusters 12 --seed 3 --keep runs/clusters

It writes a 2-D ``.npy`` of well-separated Gaussian clusters (random centres far from 0, a shared σ, at least 8σ
apart: not one of the built-in sets), then runs exactly what the issue ran,

    ddpm-studio train --data FILE.npy --out R
    ddpm-studio sample R --num 2000 --out S.npz

and scores the 2,000 samples three ways: the share farther than 3σ from every cluster centre (how a person reads the
haze; the issue saw 20 % where the data has 1 %), the off-support share (M37) and the sliced Wasserstein distance as
a multiple of its floor (M39). The training's wall time is printed from the CLI's own process (start-up included).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_clusters(path: Path, num_clusters: int, seed: int, points: int = 8192) -> tuple[np.ndarray, float]:
    """Write the data set; returns the centres (K, 2) and σ. Centres are drawn in a box far from the origin and
    redrawn until every pair is at least 8σ apart."""
    rng = np.random.default_rng(seed)
    sigma = 0.4
    while True:
        centres = rng.uniform([12.0, -20.0], [30.0, -2.0], size=(num_clusters, 2))
        gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + np.eye(num_clusters) * 1e9
        if gaps.min() >= 8 * sigma:
            break
    which = rng.integers(0, num_clusters, points)
    data = centres[which] + sigma * rng.standard_normal((points, 2))
    np.save(path, data.astype(np.float32))
    return centres, sigma


def far_share(points: np.ndarray, centres: np.ndarray, sigma: float) -> float:
    """Share of points farther than 3σ from every centre (the data itself: exp(-4.5) = 1.1 % in 2-D)."""
    distance = np.linalg.norm(points[:, None] - centres[None], axis=-1).min(axis=1)
    return float((distance > 3 * sigma).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0, help="seeds the data set (the run keeps its default seed)")
    parser.add_argument("--keep", type=Path, default=None, help="write the data, run and samples here")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="new_user_"))
    folder.mkdir(parents=True, exist_ok=True)
    data_path, run_dir, samples_path = folder / "clusters.npy", folder / "run", folder / "samples.npz"
    centres, sigma = make_clusters(data_path, args.clusters, args.seed)
    cli = [sys.executable, "-m", "ddpm_studio"]  # what the ddpm-studio script runs
    started = time.perf_counter()
    subprocess.run([*cli, "train", "--data", str(data_path), "--out", str(run_dir), "--quiet"], check=True)
    train_s = time.perf_counter() - started
    subprocess.run([*cli, "sample", str(run_dir), "--num", "2000", "--out", str(samples_path), "--quiet"],
                   check=True)

    import torch

    from ddpm_studio.core.data import load_dataset
    from ddpm_studio.core.io.runs import read_metrics
    from ddpm_studio.core.scores.metrics import off_support_fraction
    from ddpm_studio.core.scores.quality import QualityScorer

    samples = np.load(samples_path)["samples"].astype(np.float64)
    dataset = load_dataset(str(data_path))
    support = dataset.to_data_space(dataset.train).double().numpy()
    heldout = dataset.to_data_space(dataset.heldout).double().numpy()
    scorer = QualityScorer(dataset, seed=0)
    # the scorer works in the model's space: undo the data set's standardisation (to_data_space's inverse)
    normalised = (torch.as_tensor(samples, dtype=torch.float32) - dataset.shift) / dataset.scale
    sw_ratio = scorer.score(normalised)["score"] / scorer.floor
    metrics = read_metrics(run_dir)
    last_step = metrics[-1]["step"] if metrics else None
    print(f"{args.clusters} clusters (σ {sigma}), {len(support)} training points; the run ended at step "
          f"{last_step} after {train_s:.1f} s of `ddpm-studio train` (process start-up included)")
    print(f"  farther than 3σ from every centre: samples {100 * far_share(samples, centres, sigma):.1f} %, "
          f"held-out data {100 * far_share(heldout, centres, sigma):.1f} %")
    print(f"  off the support (M37): samples {100 * off_support_fraction(samples, support):.1f} %, "
          f"held-out data {100 * off_support_fraction(heldout, support):.1f} %")
    print(f"  sliced Wasserstein: {sw_ratio:.2f}x the floor (M39)")
    print(f"  files in {folder}")


if __name__ == "__main__":
    main()
