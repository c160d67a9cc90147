"""Screenshot the studio at the size it opens on this screen, after a short moons training and a sampling run.

Run from the repository root under a virtual screen of the size to check, e.g.::

    xvfb-run -a -s "-screen 0 1280x720x24" python docs/screenshot.py docs/screenshot_1280x720.png
    xvfb-run -a -s "-screen 0 1280x720x24" python docs/screenshot.py docs/screenshot_presentation.png --presentation

``docs/make_screenshots.sh`` retakes every screenshot the README shows of the main window this way.

Settings go to a temporary file, so the user's saved layout is neither used nor changed.
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
    parser.add_argument("out", help="PNG to write")
    parser.add_argument("--presentation", action="store_true", help="switch View > Presentation mode on first")
    parser.add_argument("--steps", type=int, default=600, help="training steps")
    parser.add_argument("--data", default="moons", help="built-in data set (moons, digits, ...)")
    parser.add_argument("--timesteps", type=int, default=100, help="T")
    parser.add_argument("--race", type=int, default=0, metavar="NFE",
                        help="then race ancestral, DDIM, DPM-Solver++(2M) and Heun at this many evaluations")
    parser.add_argument("--subset", type=int, default=0, help="train on this many items (0: all)")
    parser.add_argument("--run", help="open this trained run folder and sample it instead of training")
    parser.add_argument("--learned", choices=("field", "error", "memorization", "density"),
                        help="then show this tab of the What the network learned dock, computed")
    parser.add_argument("--scrub", type=float, metavar="FRACTION",
                        help="then move the training slider this far along the run's snapshots (0 = the first)")
    parser.add_argument("--x0", action="store_true", help="with --scrub: show the snapshot's half-way x̂₀")
    parser.add_argument("--dock", help="grab only this dock (its objectName, e.g. samplesDock), not the window")
    args = parser.parse_args()

    app = QApplication(sys.argv[:1])
    from ddpm_studio.gui.window.main_window import MainWindow

    settings = QSettings(str(Path(tempfile.mkdtemp()) / "studio.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.show()

    def wait(done, limit: float = 300.0) -> None:
        start = time.monotonic()
        while not done() and time.monotonic() - start < limit:
            app.processEvents()
            time.sleep(0.02)

    if args.presentation:
        window.presentationAction.trigger()
    if args.run:
        open_and_sample(window, args.run, wait)
    else:
        train_and_sample(window, args, wait)
    if args.race:
        window.open_race()
        window.race.nfeSpin.setValue(args.race)
        window.race.startButton.click()
        wait(lambda: window.race_runner.running)
        wait(lambda: not window.race_runner.running, limit=1800.0)
        window.race.raceSlider.setValue(600)
    if args.learned:
        show_learned(window, args.learned, wait)
    if args.scrub is not None:
        scrubber = window.samples_dock.scrubber
        scrubber.x0Check.setChecked(args.x0)
        scrubber.slider.setValue(round(args.scrub * scrubber.slider.maximum()))
    window.loss.flush()
    window.samples_dock.flush()
    wait(lambda: False, limit=0.5)  # the last redraws and layouts
    target = window
    if args.dock:
        from PySide6.QtWidgets import QDockWidget

        target = window.findChild(QDockWidget, args.dock)
        if target is None:
            names = ", ".join(d.objectName() for d in window.findChildren(QDockWidget))
            raise SystemExit(f"no dock named {args.dock!r}; the docks: {names}")
    target.grab().save(args.out)
    print(f"{args.out}: window {window.width()} x {window.height()} on a screen with "
          f"{app.primaryScreen().availableGeometry().width()} x {app.primaryScreen().availableGeometry().height()} "
          "available")
    window.close()
    return 0


def train_and_sample(window, args, wait) -> None:
    """Train on ``args.data`` with the given size settings; sampling follows by itself when training completes."""
    setup = window.setup
    if args.data != "moons":
        combo = setup.datasetCombo
        specs = [(combo.itemData(i) or {}).get("spec") for i in range(combo.count())]
        combo.setCurrentIndex(specs.index(args.data))
        wait(lambda: not window.busy)
    setup.subsetSpin.setValue(args.subset)
    setup.timestepsSpin.setValue(args.timesteps)
    setup.stepsSpin.setValue(args.steps)
    setup.previewEverySpin.setValue(200)
    wait(lambda: not window.busy)
    window.start_training()
    wait(lambda: window.training)
    wait(lambda: not window.training and not window.sampling and window.store is not None)
    wait(lambda: not window.busy)


def open_and_sample(window, run_dir: str, wait) -> None:
    """Open a run folder the CLI trained and press Sample (a longer run than a screenshot can afford to train)."""
    window.open_run(run_dir)
    wait(lambda: window.session.step > 0 and not window.busy)
    trajectory = window.trajectory
    # A few-step solver: the 1,000-step default would take minutes on a CPU for a picture
    trajectory.methodCombo.setCurrentIndex(trajectory.methodCombo.findData("dpmpp_2m"))
    trajectory.spacingCombo.setCurrentIndex(trajectory.spacingCombo.findData("karras"))
    trajectory.sampleStepsSpin.setValue(20)
    trajectory.sampleButton.click()
    wait(lambda: window.sampling)
    wait(lambda: not window.sampling and window.store is not None and not window.busy, limit=900.0)


def show_learned(window, tab: str, wait) -> None:
    """Open the What the network learned dock on ``tab`` and wait for its job (the field at the slider's middle)."""
    dock, runner = window.learned, window.learned_runner
    if tab == "field":
        window.trajectory.fieldView.setChecked(True)
        window.trajectory.timestepSlider.setValue(window.trajectory.timestepSlider.maximum() * 7 // 10)
        wait(lambda: dock.field.shown is not None and not runner.running)
        return
    dock.show()
    dock.raise_()
    view = dock.views[tab]
    dock.tabs.setCurrentWidget(view)
    view.run.button.click()
    wait(lambda: not runner.running)


if __name__ == "__main__":
    sys.exit(main())
