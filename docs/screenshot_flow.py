"""Screenshots of a flow run and the paths view (README): needs runs /tmp/fl/sd (DDPM), /tmp/fl/sf (flow), /tmp/fl/sr
(reflow of sf), e.g. train --steps 800 for each and reflow --pairs 4000 --steps 400; run under xvfb-run."""
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from ddpm_studio.gui.window.main_window import MainWindow

app = QApplication(sys.argv)
win = MainWindow()
win.resize(1366, 768); win.show()
state = {"n": 0}
def step():
    n = state["n"]; state["n"] += 1
    if n == 0:
        win.open_run("/tmp/fl/sf")
    elif n == 4:
        bar = win.trajectory.samplingBar
        bar.methodCombo.setCurrentIndex(bar.methodCombo.findData("heun"))
        bar.sampleStepsSpin.setValue(20)
        win.trajectory.sampleButton.click()
    elif n == 16:
        win.grab().save("/tmp/shot/flow_window.png")
        win.open_paths()
        win._paths.set_source(0, "/tmp/fl/sd"); win._paths.set_source(2, "/tmp/fl/sr")
        win._paths.drawButton.click()
    elif n == 34:
        win._paths.grab().save("/tmp/shot/paths.png")
        app.quit(); return
    QTimer.singleShot(1000, step)
QTimer.singleShot(500, step)
app.exec()
