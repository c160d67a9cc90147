"""The speed levers the issue names, each measured against what DDPM Studio ships, on the studio's own models.

    python benchmarks/bench.py --only levers [--quick]

Every lever is timed interleaved with its baseline (same process, same input, warm-up, median of repetitions)
and reported as ``variant time / shipped time``: above 1 means the shipped choice is faster. Workloads: the
tiny U-Net on 16x16x1 (the default image model, batch 64 for training and sampling, as the studio uses) and the
benchmark U-Net at 28x28x1 and the 'base' preset at 32x32x3 (batch 16 sampling; attention over 7x7 = 49 and
16x16 = 256 positions).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from unittest import mock

import torch
import torch.nn.functional as F
from torch import nn

from ddpm_studio.core.models import UNet, build_model
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.schedule import make_betas


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v written out, for comparison with the fused kernel. q, k, v: (B, heads, N, d)."""
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ v


@contextlib.contextmanager
def attention_written_out() -> Iterator[None]:
    with mock.patch.object(F, "scaled_dot_product_attention", explicit_attention):
        yield


def _train_step(net: nn.Module, diffusion: GaussianDiffusion, x0, t, noise, optimizer, *, sync: bool = False,
                autocast: bool = False) -> Callable[[], None]:
    def step() -> None:
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
        with ctx:
            loss = diffusion.training_losses(net, x0, t, noise)["loss"].float().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if sync:
            loss.item()  # what a loop that logs every step pays

    return step


def _sample_step(net: nn.Module, diffusion: GaussianDiffusion, x, t, mode: str = "no_grad",
                 patch: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> Callable[[], None]:
    grad_mode = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode,
                 "grad": contextlib.nullcontext}[mode]

    def step() -> None:
        with grad_mode(), patch():
            diffusion.p_mean_variance(net(x, t), x, t)

    return step


def _threads(n: int, fn: Callable[[], None]) -> Callable[[], None]:
    def step() -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            fn()
        finally:
            torch.set_num_threads(before)

    return step


def bench_levers(quick: bool, results: dict, interleaved: Callable[..., dict[str, float]]) -> None:
    """Time each lever against the shipped choice; ``interleaved`` is bench.py's round-robin median timer."""
    device = torch.device("cpu")
    warmup, reps = (1, 2) if quick else (2, 7)
    batch = 8 if quick else 64
    diffusion = GaussianDiffusion(make_betas("cosine", 1000), check_finite=False)
    gen = torch.Generator().manual_seed(0)
    tiny = build_model("tiny", (1, 16, 16))
    x0 = torch.rand(batch, 1, 16, 16, generator=gen) * 2 - 1
    t = torch.randint(0, 1000, (batch,), generator=gen)
    noise = torch.randn(x0.shape, generator=gen)
    xs = torch.randn(batch, 1, 16, 16, generator=gen)
    ts = torch.full((batch,), 500, dtype=torch.long)
    rows: list[dict] = []

    def compare(name: str, shipped: str, variant: str, fns: dict[str, Callable[[], None]]) -> None:
        times = interleaved(fns, device, warmup, reps)
        row = {"lever": name, "shipped": shipped, "variant": variant, "shipped_ms": times["shipped"] * 1e3,
               "variant_ms": times["variant"] * 1e3, "variant_over_shipped": times["variant"] / times["shipped"]}
        rows.append(row)
        print(f"  {name}: {shipped} {row['shipped_ms']:.1f} ms, {variant} {row['variant_ms']:.1f} ms "
              f"(x{row['variant_over_shipped']:.2f})", flush=True)

    def adamw(net: nn.Module, fused: bool, foreach: bool = False) -> torch.optim.Optimizer:
        """The shipped update (fused=True) or a variant: foreach, or the per-parameter loop (both False)."""
        return torch.optim.AdamW(net.parameters(), lr=1e-4, fused=fused or None, foreach=foreach)

    # one network per variant of a training comparison: an optimiser's state belongs to its parameters
    twin = build_model("tiny", (1, 16, 16))
    twin.load_state_dict(tiny.state_dict())
    compare("AdamW, tiny U-Net train step", "fused", "foreach", {
        "shipped": _train_step(tiny, diffusion, x0, t, noise, adamw(tiny, True)),
        "variant": _train_step(twin, diffusion, x0, t, noise, adamw(twin, False, foreach=True)),
    })
    compare("AdamW, tiny U-Net train step", "fused", "per-parameter loop", {
        "shipped": _train_step(tiny, diffusion, x0, t, noise, adamw(tiny, True)),
        "variant": _train_step(twin, diffusion, x0, t, noise, adamw(twin, False)),
    })
    compare("host sync, tiny U-Net train step", "none per step", "loss.item() every step", {
        "shipped": _train_step(tiny, diffusion, x0, t, noise, adamw(tiny, True)),
        "variant": _train_step(twin, diffusion, x0, t, noise, adamw(twin, True), sync=True),
    })
    twin_cl = build_model("tiny", (1, 16, 16)).to(memory_format=torch.channels_last)
    compare("memory format, tiny U-Net train step", "contiguous", "channels_last", {
        "shipped": _train_step(tiny, diffusion, x0, t, noise, adamw(tiny, True)),
        "variant": _train_step(twin_cl, diffusion, x0.contiguous(memory_format=torch.channels_last), t,
                               noise.contiguous(memory_format=torch.channels_last), adamw(twin_cl, True)),
    })
    compare("bf16 autocast, tiny U-Net train step", "fp32", "bf16 autocast", {
        "shipped": _train_step(tiny, diffusion, x0, t, noise, adamw(tiny, True)),
        "variant": _train_step(twin, diffusion, x0, t, noise, adamw(twin, True), autocast=True),
    })
    if torch.get_num_threads() > 1:
        n = torch.get_num_threads()
        compare("threads, tiny U-Net train step", f"{n} threads", "1 thread", {
            "shipped": _train_step(tiny, diffusion, x0, t, noise, adamw(tiny, True)),
            "variant": _threads(1, _train_step(twin, diffusion, x0, t, noise, adamw(twin, True))),
        })

    # the 2-D points MLP (default points settings: 3 x 128, 6 Fourier octaves, batch 256): its step is short,
    # so the optimiser's per-parameter dispatch and the thread hand-offs are a large share of it
    mlp = build_model("tiny", (2,), fourier_bands=6)
    mlp_twin = build_model("tiny", (2,), fourier_bands=6)
    mlp_twin.load_state_dict(mlp.state_dict())
    p0 = torch.randn(256, 2, generator=gen)
    pt = torch.randint(0, 1000, (256,), generator=gen)
    pnoise = torch.randn(p0.shape, generator=gen)
    points_diffusion = GaussianDiffusion(make_betas("linear", 1000), check_finite=False)
    compare("AdamW, 2-D MLP train step", "fused", "foreach", {
        "shipped": _train_step(mlp, points_diffusion, p0, pt, pnoise, adamw(mlp, True)),
        "variant": _train_step(mlp_twin, points_diffusion, p0, pt, pnoise, adamw(mlp_twin, False, foreach=True)),
    })
    if torch.get_num_threads() > 1:
        n = torch.get_num_threads()
        compare("threads, 2-D MLP train step", f"{n} threads", "1 thread", {
            "shipped": _train_step(mlp, points_diffusion, p0, pt, pnoise, adamw(mlp, True)),
            "variant": _threads(1, _train_step(mlp_twin, points_diffusion, p0, pt, pnoise, adamw(mlp_twin, True))),
        })

    tiny.eval()
    compare("grad mode, tiny U-Net sampling step", "no_grad", "inference_mode", {
        "shipped": _sample_step(tiny, diffusion, xs, ts, "no_grad"),
        "variant": _sample_step(tiny, diffusion, xs, ts, "inference_mode"),
    })
    compare("autograd, tiny U-Net sampling step", "no_grad", "autograd on", {
        "shipped": _sample_step(tiny, diffusion, xs, ts, "no_grad"),
        "variant": _sample_step(tiny, diffusion, xs, ts, "grad"),
    })
    tiny_cl = build_model("tiny", (1, 16, 16)).eval().to(memory_format=torch.channels_last)
    compare("memory format, tiny U-Net sampling step", "contiguous", "channels_last", {
        "shipped": _sample_step(tiny, diffusion, xs, ts),
        "variant": _sample_step(tiny_cl, diffusion, xs.contiguous(memory_format=torch.channels_last), ts),
    })
    # attention over few positions (the benchmark U-Net's 7x7 level) and over many (the 'base' preset's 16x16
    # level of a 32x32 image, 256 positions, where the written-out form builds a (B, heads, 256, 256) matrix)
    sample_batch = 4 if quick else 16
    for size, channels, preset in ((28, 1, None), (32, 3, "base")):
        if preset is None:
            net = UNet(channels, channels, base_channels=64, channel_mults=(1, 2, 2), num_res_blocks=2,
                       attention_resolutions=(7,), image_size=size).eval()
        else:
            net = build_model(preset, (channels, size, size)).eval()
        xb = torch.randn(sample_batch, channels, size, size, generator=gen)
        tb = torch.full((sample_batch,), 500, dtype=torch.long)
        where = "7x7" if preset is None else "16x16"
        compare(f"attention at {where}, {size}x{size}x{channels} U-Net sampling step",
                "scaled_dot_product_attention", "written out", {
                    "shipped": _sample_step(net, diffusion, xb, tb),
                    "variant": _sample_step(net, diffusion, xb, tb, patch=attention_written_out),
                })
    results["levers"] = rows
