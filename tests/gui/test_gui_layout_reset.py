"""View → Reset layout gives back the first start's layout: no tab bar more than at the start, on screen."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QTabBar

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]


def tab_bars(window) -> list[tuple[str, ...]]:
    """The tabs of every dock tab bar drawn inside the window (Qt parks unused bars off the window)."""
    shown = []
    for bar in window.findChildren(QTabBar):
        if bar.isVisible() and bar.parent() is window and window.rect().intersects(bar.geometry()):
            shown.append(tuple(bar.tabText(i) for i in range(bar.count())))
    return sorted(shown)


@pytest.mark.parametrize("size", [(1024, 768), (1280, 720)], ids=["1024x768", "1280x720"])
def test_reset_layout_makes_no_new_tab_bars(qtbot, window, size):
    window.resize(*size)
    qtbot.wait(50)
    at_start = tab_bars(window)
    assert at_start == [("Schedule", "Likelihood")]
    window.open_race()
    window.learned.show()
    window.loss.close()
    window.schedule.setFloating(True)
    qtbot.wait(50)
    for _ in range(2):  # twice: a second reset must not add a bar either
        window.resetLayoutAction.trigger()
        qtbot.wait(50)
        assert tab_bars(window) == at_start
    assert window.loss.isVisible() and not window.schedule.isFloating()
    assert not window.race.isVisible() and not window.learned.isVisible()
    window.open_race()  # what opens on demand still does
    assert window.race.isVisible()
