"""Screenshot File → Follow run…: the studio following a run that ``ddpm-studio train`` writes in another process.

Run from the repository root under a virtual screen, e.g.::

    xvfb-run -a -s "-screen 0 1366x768x24" python docs/screenshot_follow.py docs/screenshot_follow_moons.png

The run trains moons for 900 steps with a loss line every 10 steps, a checkpoint and a preview every 300; the
picture is taken mid-run, when the second preview and checkpoint are there. Settings go to a temporary file.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package, not an installed one

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="PNG to write")
    parser.add_argument("--data", default="moons", help="built-in data set the other process trains on")
    args = parser.parse_args()

    app = QApplication(sys.argv[:1])
    from ddpm_studio.gui.window.main_window import MainWindow

    folder = Path(tempfile.mkdtemp())
    settings = QSettings(str(folder / "studio.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.show()

    def wait(done, limit: float = 600.0) -> None:
        start = time.monotonic()
        while not done() and time.monotonic() - start < limit:
            app.processEvents()
            time.sleep(0.02)

    run = folder / f"{args.data}_run"
    trainer = subprocess.Popen(
        [sys.executable, "-m", "ddpm_studio", "train", "--data", args.data, "--out", str(run), "--steps", "900",
         "--log-every", "10", "--checkpoint-every", "300", "--preview-every", "300", "--quiet"], cwd=ROOT)
    try:
        wait(lambda: (run / "config.json").is_file())
        window.following.follow(str(run))
        wait(lambda: window.following.offered_step is not None and window.following.offered_step >= 600
             and window.following.previewLabel is not None
             and window.following.previewLabel.property("previewStep") == 600)
        end = time.monotonic() + 1.0
        wait(lambda: time.monotonic() > end)  # let the docks repaint
        window.grab().save(args.out)
    finally:
        trainer.kill()
        trainer.wait()
    print(f"wrote {args.out}: {window.loss.point_count} loss points, offered step {window.following.offered_step}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
