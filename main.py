"""Run DDPM Studio from a source checkout: ``python main.py`` is the same as ``ddpm-studio``."""

import sys

from ddpm_studio.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
