"""DDPM Studio benchmarks: our U-Net against diffusers' UNet2DModel, achieved FLOP/s, the 2-D loop, the studio.

    python benchmarks/bench.py [--quick] [--json FILE] [--device cpu|cuda] [--skip-studio] [--only SECTION ...]

Sections: peak, unet (against diffusers), points (the 2-D loop), levers (each speed setting against the shipped
choice, CPU; benchmarks/levers.py), studio (the studio's cost, CPU; benchmarks/studio_overhead.py).

Every comparison runs both models in the same process on the same input and device, interleaved, with warm-up
and repetitions; the median is reported. Ratios are peer time / our time (> 1: we are faster).
diffusers is a benchmark-only dependency: ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ddpm_studio.core.models import UNet, count_parameters
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.schedule import make_betas


# ------------------------------------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn: Callable[[], None], device: torch.device, warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(fns: dict[str, Callable[[], None]], device: torch.device, warmup: int, reps: int) -> dict[str, float]:
    """Median seconds per call of each fn, measured round-robin so machine noise hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync(device)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


# ------------------------------------------------------------------------------------------- models
@dataclass
class Pair:
    """Our U-Net and a diffusers UNet2DModel with the same parameter count (within 5 %)."""

    ours: nn.Module
    peer: nn.Module
    ours_params: int
    peer_params: int


def our_unet(channels: int, size: int) -> UNet:
    """The benchmark configuration: base 64, mults (1, 2, 2), 2 residual blocks, attention at 1/4 resolution."""
    return UNet(
        channels,
        channels,
        base_channels=64,
        channel_mults=(1, 2, 2),
        num_res_blocks=2,
        attention_resolutions=((size + 3) // 4,),
        image_size=size,
    )


def peer_unet(channels: int, size: int, width: int):
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=size,
        in_channels=channels,
        out_channels=channels,
        layers_per_block=2,
        block_out_channels=(width, 2 * width, 2 * width),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        norm_num_groups=32 if width % 32 == 0 else 16,
        attention_head_dim=2 * width,
    )


def matched_pair(channels: int, size: int) -> Pair:
    """Search the diffusers width (multiples of 16) whose parameter count is closest to ours."""
    ours = our_unet(channels, size)
    target = count_parameters(ours)
    best = None
    for width in range(32, 161, 16):
        peer = peer_unet(channels, size, width)
        gap = abs(count_parameters(peer) - target) / target
        if best is None or gap < best[0]:
            best = (gap, peer)
    assert best is not None
    if best[0] > 0.05:
        raise RuntimeError(f"no diffusers width within 5 % of {target} parameters (best gap {best[0]:.1%})")
    return Pair(ours, best[1], target, count_parameters(best[1]))


def peer_call(peer: nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return lambda x, t: peer(x, t).sample


# ------------------------------------------------------------------------------------------- sections
def bench_unets(device: torch.device, quick: bool, results: dict) -> None:
    """Training step (fwd + bwd + AdamW) at batch 64 and one sampling step at batch 16, ours vs diffusers."""
    diffusion = GaussianDiffusion(make_betas("linear", 1000), check_finite=False)
    warmup, reps = (1, 3) if quick else (3, 10)
    train_batch, sample_batch = (16, 8) if quick else (64, 16)
    cuda = device.type == "cuda"
    if cuda and not quick:  # a GPU is wasted on batch 64: larger batches, bf16 autocast for both models
        train_batch, sample_batch = 256, 64
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else contextlib.nullcontext
    rows = []
    for channels, size in [(1, 28)] if quick else [(1, 28), (3, 32)]:
        row = _bench_pair(channels, size, device, diffusion, train_batch, sample_batch, amp, warmup, reps)
        row["bf16_autocast"] = cuda
        rows.append(row)
        print(
            f"  {row['image']}: params ours {row['ours_params']:,} / diffusers {row['peer_params']:,} | train "
            f"{row['train_ms_ours']:.0f} vs {row['train_ms_peer']:.0f} ms (x{row['train_ratio']:.2f}) | sample "
            f"{row['sample_ms_ours']:.1f} vs {row['sample_ms_peer']:.1f} ms (x{row['sample_ratio']:.2f}) | "
            f"{row['train_gflops_per_s']:.1f} GFLOP/s",
            flush=True,
        )
    results["unet"] = rows


def _bench_pair(channels, size, device, diffusion, train_batch, sample_batch, amp, warmup, reps) -> dict:
    """One resolution: interleaved training and sampling steps of both networks on identical inputs."""
    pair = matched_pair(channels, size)
    nets = {"ours": pair.ours.to(device), "diffusers": pair.peer.to(device)}
    calls = {"ours": nets["ours"], "diffusers": peer_call(nets["diffusers"])}
    opts = {k: torch.optim.AdamW(v.parameters(), lr=1e-4) for k, v in nets.items()}
    gen = torch.Generator(device="cpu").manual_seed(0)
    x0 = (torch.rand(train_batch, channels, size, size, generator=gen) * 2 - 1).to(device)
    t = torch.randint(0, 1000, (train_batch,), generator=gen).to(device)
    noise = torch.randn(x0.shape, generator=gen).to(device)
    xs = torch.randn(sample_batch, channels, size, size, generator=gen).to(device)
    ts = torch.full((sample_batch,), 500, dtype=torch.long).to(device)

    def train_step(name: str) -> Callable[[], None]:
        def step() -> None:
            with amp():
                loss = diffusion.training_losses(calls[name], x0, t, noise)["loss"].float().mean()
            opts[name].zero_grad(set_to_none=True)
            loss.backward()
            opts[name].step()

        return step

    def sample_step(name: str) -> Callable[[], None]:
        def step() -> None:
            with torch.inference_mode(), amp():
                diffusion.p_mean_variance(calls[name](xs, ts).float(), xs, ts)

        return step

    train = interleaved({k: train_step(k) for k in nets}, device, warmup, reps)
    sample = interleaved({k: sample_step(k) for k in nets}, device, warmup, reps)
    flops = training_flops(calls["ours"], diffusion, x0, t, noise)
    return {
        "image": f"{size}x{size}x{channels}",
        "ours_params": pair.ours_params,
        "peer_params": pair.peer_params,
        "train_batch": train_batch,
        "sample_batch": sample_batch,
        "train_ms_ours": train["ours"] * 1e3,
        "train_ms_peer": train["diffusers"] * 1e3,
        "train_ratio": train["diffusers"] / train["ours"],
        "sample_ms_ours": sample["ours"] * 1e3,
        "sample_ms_peer": sample["diffusers"] * 1e3,
        "sample_ratio": sample["diffusers"] / sample["ours"],
        "train_gflop": flops / 1e9,
        "train_gflops_per_s": flops / train["ours"] / 1e9,
    }


def training_flops(model, diffusion, x0, t, noise) -> float:
    """FLOPs of one training step (forward + backward), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        diffusion.training_losses(model, x0, t, noise)["loss"].mean().backward()
    model.zero_grad(set_to_none=True) if hasattr(model, "zero_grad") else None
    return float(counter.get_total_flops())


def bench_peak(device: torch.device, quick: bool, results: dict) -> None:
    """The machine's measured peak: a large fp32 matmul and a large 3x3 convolution, in GFLOP/s."""
    n = 1024 if quick else 2048
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    mm = median_time(lambda: a @ b, device, 1, 3 if quick else 7)
    conv = nn.Conv2d(128, 128, 3, padding=1).to(device)
    x = torch.randn(32, 128, 32, 32, device=device)
    with torch.no_grad():
        cv = median_time(lambda: conv(x), device, 1, 3 if quick else 7)
    conv_flops = 2 * 32 * 128 * 128 * 9 * 32 * 32
    peak = {"matmul_gflops": 2 * n**3 / mm / 1e9, "conv_gflops": conv_flops / cv / 1e9}
    peak["peak_gflops"] = max(peak["matmul_gflops"], peak["conv_gflops"])
    results["peak"] = peak
    print(f"  peak: matmul {peak['matmul_gflops']:.1f} GFLOP/s, conv {peak['conv_gflops']:.1f} GFLOP/s", flush=True)


def bench_points(device: torch.device, quick: bool, results: dict) -> None:
    """2-D MLP training throughput and the time to a sliced-Wasserstein score within 2x of the data floor."""
    from ddpm_studio.core.config import default_config
    from ddpm_studio.core.scores.metrics import sliced_wasserstein, sliced_wasserstein_floor
    from ddpm_studio.core.training.events import TrainStep
    from ddpm_studio.core.training.trainer import Trainer

    config = default_config("ring", "points")
    config.train.device = str(device)
    config.train.steps = 300 if quick else 6000
    config.train.log_every = 100
    config.train.preview_every = 0
    config.train.checkpoint_every = 0
    trainer = Trainer(config)
    reference = trainer.dataset.heldout
    floor = sliced_wasserstein_floor(reference)
    train_seconds, reached, speeds, history = 0.0, None, [], []
    start = time.perf_counter()
    for event in trainer.train():
        if not isinstance(event, TrainStep):
            continue
        train_seconds += time.perf_counter() - start
        speeds.append(event.steps_per_sec)
        if event.step % (150 if quick else 500) == 0 or event.step == config.train.steps:
            samples = trainer.pipeline().sample_final(len(reference), num_steps=100, seed=1)
            score = sliced_wasserstein(samples, reference)
            history.append((event.step, round(train_seconds, 2), score))
            if reached is None and score <= 2 * floor:
                reached = (event.step, train_seconds)
                if not quick:
                    trainer.request_stop()
        start = time.perf_counter()
    results["points"] = {
        "steps_per_sec": statistics.median(speeds),
        "floor": floor,
        "history": history,
        "steps_to_2x_floor": reached[0] if reached else None,
        "seconds_to_2x_floor": reached[1] if reached else None,
    }
    print(
        f"  ring MLP: {results['points']['steps_per_sec']:.0f} steps/s; floor {floor:.4f}; 2x floor reached "
        + (f"at step {reached[0]} after {reached[1]:.1f} s of training" if reached else "not reached"),
        flush=True,
    )


def bench_studio(quick: bool, results: dict) -> None:
    """The same training headless and driven by the studio offscreen; the longest event-loop stall.

    Two workloads: the 2-D MLP (the worst case: a ~10 ms step of Python dispatch that holds the GIL, which the
    GUI thread needs to draw) and the tiny U-Net on digits (a ~0.3 s step spent in kernels that release it).
    """
    from benchmarks.studio_overhead import measure_studio_overhead

    runs = [("studio", "moons", "points", 60 if quick else 600, 50 if quick else 1000)]
    if not quick:
        runs.append(("studio_digits", "digits", "images", 40, 100))
    for key, dataset, kind, steps, sample_steps in runs:
        results[key] = measure_studio_overhead(steps=steps, sample_steps=sample_steps, repeats=1 if quick else 3,
                                               dataset=dataset, kind=kind)
        s = results[key]
        print(
            f"  studio ({dataset}, {steps} steps): headless {s['headless_s']:.2f} s, studio {s['studio_s']:.2f} s "
            f"(overhead {s['overhead_pct']:+.1f} %, the studio at {s['speed_ratio']:.2f}x the CLI's steps/s on "
            f"{s['training_threads']} training thread(s)); longest stall training {s['max_stall_training_ms']:.0f} ms, "
            f"sampling {s['max_stall_sampling_ms']:.0f} ms (times: medians of {s['repeats']} alternating runs)",
            flush=True,
        )


def machine() -> dict:
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        import diffusers

        info["diffusers"] = diffusers.__version__
    except ImportError:
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few repetitions (a smoke test)")
    parser.add_argument("--json", help="write every figure to this JSON file")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip-studio", action="store_true", help="skip the studio overhead measurement")
    parser.add_argument(
        "--only",
        choices=["unet", "peak", "points", "levers", "studio"],
        action="append",
        help="run only these sections (repeatable)",
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    results: dict = {"machine": machine(), "device": str(device), "quick": args.quick}
    print(
        f"DDPM Studio benchmarks on {device} ({results['machine']['processor']}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads)",
        flush=True,
    )
    sections = args.only or ["peak", "unet", "points", "levers", "studio"]
    if "peak" in sections:
        bench_peak(device, args.quick, results)
    if "unet" in sections:
        try:
            bench_unets(device, args.quick, results)
        except ImportError:
            print("  diffusers is not installed: pip install -e '.[bench]' (skipping the U-Net comparison)")
    if "peak" in results and "unet" in results:
        for row in results["unet"]:
            row["fraction_of_peak"] = row["train_gflops_per_s"] / results["peak"]["peak_gflops"]
            print(f"  {row['image']} training reaches {row['fraction_of_peak']:.0%} of the measured peak")
    if "points" in sections:
        bench_points(device, args.quick, results)
    if "levers" in sections and device.type == "cpu":
        from benchmarks.levers import bench_levers

        bench_levers(args.quick, results, interleaved)
    if "studio" in sections and not args.skip_studio and device.type == "cpu":
        bench_studio(args.quick, results)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
