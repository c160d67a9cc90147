"""Multi-process training with torch.distributed (one process per device, launched by ``torchrun``).

``torchrun --nproc_per_node=N -m ddpm_studio train ...`` sets RANK / WORLD_SIZE / LOCAL_RANK; the trainer then
wraps its network in DistributedDataParallel, seeds each rank's batches differently and lets rank 0 alone write
the run folder. The gloo backend runs the same code on CPUs (the tests use it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_name: str) -> DistContext:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); a no-op single-process context otherwise.

    Backend: NCCL when this process trains on CUDA, gloo otherwise.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return DistContext()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistContext(rank=rank, world_size=world, local_rank=local_rank)


def distributed_device(ctx: DistContext, device_name: str) -> torch.device | None:
    """The device this rank trains on: cuda:LOCAL_RANK under NCCL; None means "use the configured device"."""
    if ctx.enabled and torch.cuda.is_available() and device_name in ("auto", "cuda"):
        torch.cuda.set_device(ctx.local_rank)
        return torch.device("cuda", ctx.local_rank)
    return None


def any_rank(ctx: DistContext, flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is True on any of them (an all-reduce of one number; a collective: every
    rank must call it at the same point)."""
    if not ctx.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0.0)


def shutdown_distributed(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
