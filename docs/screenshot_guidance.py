"""Screenshots of conditional generation (issue 18): a class-by-class grid and the guidance sweep.

Opens a conditional run folder (e.g. the one ``benchmarks/guidance.py --save`` or ``train --conditional`` wrote),
samples every class at w = 3 (one row per class) and grabs the window, then runs the guidance sweep dialog and grabs
it. With ``--train DATA`` it trains a short conditional run on a 2-D data set in the studio instead (samples
coloured by class). With ``--field CLASS`` (2-D) it then shows the Learned dock's guided field of that class at
``--field-w`` beside the guided ideal denoiser (M34, M38) and grabs the window again, '_field' added::

    xvfb-run -a -s "-screen 0 1366x768x24" python docs/screenshot_guidance.py docs/x.png --run runs/digits_c
    xvfb-run -a -s "-screen 0 1366x768x24" python docs/screenshot_guidance.py docs/x.png --train ring --steps 800
    xvfb-run -a -s "-screen 0 1366x768x24" python docs/screenshot_guidance.py docs/x.png --train moons --field 1 \
        --no-sweep
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
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep dialog")
    parser.add_argument("--field", type=int, metavar="CLASS", help="2-D: then the guided field of this class")
    parser.add_argument("--field-w", type=float, default=3.0, help="with --field: the guidance scale w")
    parser.add_argument("--field-at", type=float, default=0.7,
                        help="with --field: where the trajectory slider stands (0: x_0 ... 1: x_T)")
    args = parser.parse_args()

    app = QApplication(sys.argv[:1])
    from ddpm_studio.gui.window.main_window import MainWindow

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
    out = Path(args.out)
    if args.field is not None:
        show_guided_field(window, args, wait)
        field_path = out.with_name(out.stem + "_field" + out.suffix)
        window.grab().save(str(field_path))
        print(f"{field_path}: {window.learned.field.fieldLabel.text()}")
    if not args.no_sweep:
        show_sweep(window, args, wait, out)
    window.close()
    return 0


def show_guided_field(window, args, wait) -> None:
    """The Field tab for class ``args.field`` at w = ``args.field_w``, the slider at ``args.field_at`` of the way
    to x_T; waits for the field job."""
    bar, trajectory = window.trajectory.samplingBar, window.trajectory
    bar.classCombo.setCurrentIndex(bar.classCombo.findData(args.field))
    bar.guidanceSlider.setValue(round(args.field_w * 4))
    slider = trajectory.timestepSlider
    slider.setValue(round(slider.maximum() * (1.0 - args.field_at)))
    trajectory.fieldView.setChecked(True)
    field, runner = window.learned.field, window.learned_runner
    wait(lambda: field.shown is not None and field.shown.request.label == args.field and not runner.running)
    wait(lambda: False, limit=0.5)


def show_sweep(window, args, wait, out: Path) -> None:
    """The guidance sweep dialog for ``args.sweep_class``, run and grabbed beside ``out`` with '_sweep' added."""
    bar = window.trajectory.samplingBar
    sweep_class = bar.classCombo.findData(None if args.sweep_class == "all" else int(args.sweep_class))
    bar.classCombo.setCurrentIndex(max(0, sweep_class))
    bar.numSamplesSpin.setValue(args.sweep_samples)
    bar.sweepButton.click()
    dialog = window._guidance_sweep
    dialog.runButton.click()
    wait(lambda: dialog.job is not None)
    wait(lambda: dialog.job is None)
    wait(lambda: False, limit=0.5)
    sweep_path = out.with_name(out.stem + "_sweep" + out.suffix)
    dialog.grab().save(str(sweep_path))
    print(f"{sweep_path}: {dialog.statusLabel.text()}")


if __name__ == "__main__":
    sys.exit(main())
