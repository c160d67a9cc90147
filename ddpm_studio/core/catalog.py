"""What a run picks by name from a list: the built-in data sets and the network presets, as plain data.

They are defined here, once, and not beside the code that draws the data or builds the network, because a parser
must list them without importing that code: ``ddpm-studio train --help`` prints the data sets and checks
``--model`` against the presets before any torch or numpy is loaded (issue 32). :mod:`.data` and :mod:`.models`
import them from here and say what each name means: :mod:`.data.toys` and :mod:`.data.mixtures` map the point
sets to their generators (``tests/core/test_lazy_cli.py`` checks that those maps hold exactly these names), and
:mod:`.models.presets` builds a network from a preset.

This module imports nothing: every other module may read it.
"""

from __future__ import annotations

# ------------------------------------------------------------------------------------------------ data sets
#: The 2-D toys of :mod:`ddpm_studio.core.data.toys`.
TOY_DATASETS: tuple[str, ...] = ("moons", "circles", "swissroll", "ring", "checkerboard")

#: The built-in image sets: the bundled UCI digits and procedural shapes (:mod:`ddpm_studio.core.data.images`).
IMAGE_DATASETS: tuple[str, ...] = ("digits", "shapes")

#: The seeded 2-D test distributions of :mod:`ddpm_studio.core.data.mixtures`: Gaussian mixtures, then the
#: spiral, the checkerboard and the continuous ring.
MIXTURE_DATASETS: tuple[str, ...] = (
    "gaussians8",
    "gaussians8_wide",
    "gaussians25",
    "gaussians25_wide",
    "spiral",
    "checker5",
    "annulus",
)

#: The standard image sets downloaded on first use into the cache (:mod:`ddpm_studio.core.data.remote` holds their
#: files, sizes and pinned SHA-256 checksums; :mod:`ddpm_studio.core.data.standard` reads them).
REMOTE_DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10")

#: Every built-in data set's name -> its kind ("points" or "images"), in the order ``--help`` lists them.
BUILTIN_DATASETS: dict[str, str] = {
    **{name: "points" for name in TOY_DATASETS},
    **{name: "images" for name in IMAGE_DATASETS},
    **{name: "points" for name in MIXTURE_DATASETS},
    **{name: "images" for name in REMOTE_DATASETS},
}

# ------------------------------------------------------------------------------------------------ network presets
#: The image size that preset attention resolutions refer to.
REFERENCE_IMAGE_SIZE = 32

_MLP_BASE = {"hidden": 512, "num_blocks": 4, "time_dim": 128, "dropout": 0.0}

#: Named model sizes: each names one U-Net (for images) and one residual MLP (for points). Attention resolutions
#: are in pixels of a REFERENCE_IMAGE_SIZE input (:func:`ddpm_studio.core.models.build_model` rescales them).
MODEL_PRESETS: dict[str, dict] = {
    # ~1.1M parameters at 16x16x1; one forward+backward at batch 64 takes about a quarter of a second on two
    # CPU threads, so a thousand steps fit in minutes on a laptop.
    "tiny": {
        "description": "~1.1M parameters: trains on a laptop CPU in minutes (small grey images, toy points).",
        "unet": {
            "base_channels": 32,
            "channel_mults": (1, 2, 2),
            "num_res_blocks": 1,
            "attention_resolutions": (8,),  # the lowest of the three levels (4x4 for 16x16 input)
            "dropout": 0.0,
            "num_heads": 1,
        },
        "mlp": {"hidden": 128, "num_blocks": 3, "time_dim": 128, "dropout": 0.0},
    },
    "small": {
        "description": "~4.4M parameters: digits and MNIST-sized data on a CPU or a small GPU.",
        "unet": {
            "base_channels": 64,
            "channel_mults": (1, 2, 2),
            "num_res_blocks": 1,
            "attention_resolutions": (8,),
            "dropout": 0.1,
            "num_heads": 1,
        },
        "mlp": {"hidden": 256, "num_blocks": 3, "time_dim": 128, "dropout": 0.0},
    },
    "base": {
        "description": "~14.5M parameters: 32x32 colour images on a GPU.",
        "unet": {
            "base_channels": 96,
            "channel_mults": (1, 2, 2),
            "num_res_blocks": 2,
            "attention_resolutions": (16,),
            "dropout": 0.1,
            "num_heads": 1,
        },
        "mlp": _MLP_BASE,
    },
    # Ho et al. 2020, appendix B: the 35.7M-parameter CIFAR-10 model.
    "ddpm-cifar": {
        "description": "Ho et al. 2020's 35.7M-parameter CIFAR-10 U-Net (GPU; the MLP of 'base' for points).",
        "unet": {
            "base_channels": 128,
            "channel_mults": (1, 2, 2, 2),
            "num_res_blocks": 2,
            "attention_resolutions": (16,),
            "dropout": 0.1,
            "num_heads": 1,
        },
        "mlp": _MLP_BASE,
    },
}
