"""TensorBoard event files in the run folder, beside ``metrics.jsonl`` (which stays the source of truth).

With ``train.tensorboard`` on (``ddpm-studio train --tensorboard``, the Setup dock's option), the trainer hands
each logged step and each preview to a :class:`TensorBoardWriter`, which writes them with
``torch.utils.tensorboard`` under ``RUN/tensorboard/``, so ``tensorboard --logdir runs/`` shows every run side by
side. Tags: ``loss``, ``mse``, ``bound/vlb_per_dim`` (the single-t estimate of the bound, M17, nats per
dimension), ``lr``, ``steps_per_sec`` and ``preview`` (the preview grid or scatter as an image).

``tensorboard`` is an optional extra (``pip install "ddpm-studio[tensorboard]"``); it is imported only when a
run asks for it, and a missing package is refused in one line before training starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

TENSORBOARD_DIR = "tensorboard"
INSTALL_HINT = 'pip install "ddpm-studio[tensorboard]"'
#: metrics.jsonl field -> TensorBoard tag.
SCALARS = {"loss": "loss", "mse": "mse", "vlb": "bound/vlb_per_dim", "lr": "lr", "steps_per_sec": "steps_per_sec"}


def tensorboard_problem() -> str | None:
    """Why TensorBoard logging cannot start here (the package is missing), or None."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401 - imports tensorboard itself
    except ImportError:
        return f"--tensorboard needs the tensorboard package: {INSTALL_HINT}"
    return None


class TensorBoardWriter:
    """Writes a run's scalars and preview images as TensorBoard events under ``run_dir/tensorboard``.

    Raises:
        RuntimeError: tensorboard is not installed (the message is :func:`tensorboard_problem`'s line).
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        problem = tensorboard_problem()
        if problem:
            raise RuntimeError(problem)
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(run_dir) / TENSORBOARD_DIR
        self._writer = SummaryWriter(log_dir=str(self.log_dir))

    def scalars(self, record: dict[str, Any]) -> None:
        """One metrics.jsonl record (``step`` plus any of :data:`SCALARS`) as scalars at that step."""
        step = int(record["step"])
        for field, tag in SCALARS.items():
            value = record.get(field)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._writer.add_scalar(tag, float(value), step)
        self._writer.flush()  # a TensorBoard watching the folder sees each step as it is logged

    def image(self, step: int, picture: np.ndarray, tag: str = "preview") -> None:
        """A uint8 picture (H, W, C) (the preview grid or scatter) at ``step``."""
        self._writer.add_image(tag, picture, step, dataformats="HWC")
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class TensorBoardLogging:
    """The Trainer's TensorBoard side (a mixin): with ``train.tensorboard`` on, the main process of a run with a
    folder writes every logged step and every preview; otherwise each call is a no-op.

    Uses the Trainer's ``config``, ``run_dir``, ``dist``, ``pipeline()`` and ``dataset``.
    """

    _tensorboard: TensorBoardWriter | None = None

    def _tensorboard_writer(self) -> TensorBoardWriter | None:
        if not self.config.train.tensorboard or self.run_dir is None or not self.dist.is_main:
            return None
        if self._tensorboard is None or self._tensorboard.log_dir.parent != Path(self.run_dir):
            self._tensorboard_close()  # a run saved into another folder logs there from now on
            self._tensorboard = TensorBoardWriter(self.run_dir)
        return self._tensorboard

    def _tensorboard_scalars(self, record: dict[str, Any]) -> None:
        writer = self._tensorboard_writer()
        if writer is not None:
            writer.scalars(record)

    def _tensorboard_preview(self, step: int, samples) -> None:
        """The preview as the CLI saves it (an image grid, or a scatter over the held-out data)."""
        writer = self._tensorboard_writer()
        if writer is not None:
            from ddpm_studio.core.training.previews import preview_image

            writer.image(step, preview_image(self.pipeline(), samples, reference=self.dataset.heldout))

    def _tensorboard_close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
