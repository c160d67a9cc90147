"""Screenshots of conditional generation (issue 18): a class-by-class grid and the guidance sweep.

Opens a conditional run folder (e.g. the one ``benchmarks/guidance.py --save`` or ``train --conditional`` wrote),
samples every class at w = 3 (one row per class) and grabs the window, then runs the guidance sweep dialog and grabs
it. With ``--train DATA`` it trains a short conditional run on a 2-D data set in the studio instead (samples
coloured by class)::

    xvfb-run -a -s "-screen 0 1366x768x24" python docs/screenshot_guidance.py docs/x.png --run runs/digits_c
    xvfb-run -a -s "-screen 0 1366x768x24" python docs/screenshot_guidance.py docs/x.png --train ring --steps 800
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package, not an installed one

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="PNG of the window; the sweep goes beside it with '_sweep' added")
    parser.add_argument("--run", help="a conditional run folder to open")
    parser.add_argument("--train", help="or: a labelled 2-D data set to train on (ring, moons, circles)")
    parser.add_argument("--steps", type=int, default=800, help="with --train: training steps")
    parser.add_argument("--per-class", type=int, default=10, help="samples per class in the grid")
    parser.add_argument("--nfe", type=int, default=50)
    parser.add_argument("--sweep-class", default="7", help="the class the sweep asks for ('all': a row each)")
    parser.add_argument("--sweep-samples", type=int, default=16)
    args = parser.parse_args()

    app = QApplication(sys.argv[:1])
    from ddpm_studio.gui.main_window import MainWindow

    settings = QSettings(str(Path(tempfile.mkdtemp()) / "studio.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.show()

    def wait(done, limit: float = 900.0) -> None:
        start = time.monotonic()
        while not done() and time.monotonic() - start < limit:
            app.processEvents()
            time.sleep(0.02)

    if args.run:
        window.open_run(args.run)
        wait(lambda: window.session.has_model and not window.busy)
    else:
        window.setup.select_builtin(args.train)
        wait(lambda: window.setup.conditionalCheck.isEnabled())
        window.setup.conditionalCheck.setChecked(True)
        window.setup.timestepsSpin.setValue(100)
        window.setup.stepsSpin.setValue(args.steps)
        window.setup.previewEverySpin.setValue(0)
        window.trajectory.autoSampleCheck.setChecked(False)
        window.start_training()
        wait(lambda: window.training)
        wait(lambda: not window.training and not window.busy)
    bar = window.trajectory.samplingBar
    classes = bar.num_classes or 1
    bar.classCombo.setCurrentIndex(0)  # all: one row per class
    bar.guidanceSlider.setValue(3 * 4)
    bar.methodCombo.setCurrentIndex(bar.methodCombo.findData("ddim"))
    bar.sampleStepsSpin.setValue(args.nfe)
    bar.numSamplesSpin.setValue(args.per_class * classes if args.run else 1000)
    window.sample()
    wait(lambda: window.sampling)
    wait(lambda: not window.sampling and window.store is not None)
    window.samples_dock.flush()
    wait(lambda: False, limit=0.5)
    window.grab().save(args.out)
    print(f"{args.out}: {window.width()} x {window.height()}")

    sweep_class = bar.classCombo.findData(None if args.sweep_class == "all" else int(args.sweep_class))
    bar.classCombo.setCurrentIndex(max(0, sweep_class))
    bar.numSamplesSpin.setValue(args.sweep_samples)
    bar.sweepButton.click()
    dialog = window._guidance_sweep
    dialog.runButton.click()
    wait(lambda: dialog.job is not None)
    wait(lambda: dialog.job is None)
    wait(lambda: False, limit=0.5)
    out = Path(args.out)
    sweep_path = out.with_name(out.stem + "_sweep" + out.suffix)
    dialog.grab().save(str(sweep_path))
    print(f"{sweep_path}: {dialog.statusLabel.text()}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
