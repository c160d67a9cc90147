"""Screenshots of a flow run and the paths view for the README, under Xvfb.

Needs three small runs: /tmp/fl/sd (DDPM), /tmp/fl/sf (flow) and /tmp/fl/sr (a reflow of sf), e.g.
``ddpm-studio train --steps 800 --out /tmp/fl/sd``, the same with ``--process flow --out /tmp/fl/sf``, and
``ddpm-studio reflow /tmp/fl/sf --out /tmp/fl/sr --pairs 4000 --steps 400``; then
``xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshot_flow.py``.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from ddpm_studio.gui.window.main_window import MainWindow

RUNS = {"ddpm": "/tmp/fl/sd", "flow": "/tmp/fl/sf", "reflow": "/tmp/fl/sr"}
OUT = "docs"


def main() -> None:
    app = QApplication(sys.argv)
    win = MainWindow()
    win.resize(1366, 768)
    win.show()
    tick = {"n": 0}

    def step() -> None:
        n = tick["n"]
        tick["n"] += 1
        if n == 0:
            win.open_run(RUNS["flow"])
        elif n == 4:
            bar = win.trajectory.samplingBar
            bar.methodCombo.setCurrentIndex(bar.methodCombo.findData("heun"))
            bar.sampleStepsSpin.setValue(20)
            win.trajectory.sampleButton.click()
        elif n == 16:
            win.grab().save(f"{OUT}/screenshot_flow_moons.png")
            win.open_paths()
            win._paths.set_source(0, RUNS["ddpm"])
            win._paths.set_source(2, RUNS["reflow"])
            win._paths.drawButton.click()
        elif n == 34:
            win._paths.grab().save(f"{OUT}/screenshot_paths_moons.png")
            app.quit()
            return
        QTimer.singleShot(1000, step)

    QTimer.singleShot(500, step)
    app.exec()


if __name__ == "__main__":
    main()
