"""DDPM Studio: train denoising diffusion probabilistic models and watch the reverse process.

The numeric core lives in :mod:`ddpm_studio.core` (no Qt); the desktop app in :mod:`ddpm_studio.gui`.
"""

__version__ = "0.1.0"
