"""A dock's body in a scroll area, so a small screen (a 1024 x 768 projector) scrolls a dock instead of cutting it.

Without it a dock is never narrower than its controls' row: the Loss and Likelihood docks side by side asked for
900 pixels, and the window for 1,245, so on a 1024-pixel screen its right part hung off the screen. In this area
the body keeps its own minimum size (nothing in it is squeezed or overlaps) and the dock asks only for
:data:`DOCK_MIN_SIZE`; where the window gives it less than the body needs, scroll bars appear. Where there is
room the body grows with the dock as before.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QDockWidget, QFrame, QScrollArea, QWidget

#: The least a scrolled dock asks for: a plot and a row of controls still read at this size.
DOCK_MIN_SIZE = QSize(240, 150)


class DockScroll(QScrollArea):
    """A frameless scroll area around one dock body (objectName ``<dock>Scroll``).

    The body is sized here, not by ``widgetResizable``: that path sizes a body whose layout has a height-for-width
    (any word-wrapped caption) at its *preferred* height, so a Samples dock with room for its plot scrolled anyway.
    Here the body fills the viewport and is never smaller than its minimum size.
    """

    def __init__(self, body: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setWidget(body)
        body.installEventFilter(self)
        self.viewport().installEventFilter(self)

    def fit_body(self) -> None:
        """The body as large as the viewport, but never below its minimum size (the rest scrolls)."""
        body = self.widget()
        if body is None:
            return
        least = body.minimumSizeHint().expandedTo(body.minimumSize())
        room = self.maximumViewportSize()  # the viewport without scroll bars
        size = QSize(max(room.width(), least.width()), max(room.height(), least.height()))
        # a scroll bar in one direction takes room from the other
        if size.width() > room.width():
            size.setHeight(max(room.height() - self.horizontalScrollBar().sizeHint().height(), least.height()))
        if size.height() > room.height():
            size.setWidth(max(room.width() - self.verticalScrollBar().sizeHint().width(), least.width()))
        if body.size() != size:
            body.resize(size)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.Resize) and (
                watched is self.widget() and event.type() == QEvent.Type.LayoutRequest or watched is self.viewport()):
            self.fit_body()
        return super().eventFilter(watched, event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.fit_body()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        body = self.widget()
        return body.sizeHint() if body is not None else super().sizeHint()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        body = self.widget()
        if body is None:
            return DOCK_MIN_SIZE
        return body.minimumSizeHint().boundedTo(DOCK_MIN_SIZE)


def scroll_dock(dock: QDockWidget) -> DockScroll:
    """Put ``dock``'s body into a :class:`DockScroll` (once); the body's children keep their parent widget."""
    current = dock.widget()
    if isinstance(current, QScrollArea):
        return current  # already scrolls (the Setup dock's form)
    scroll = DockScroll(current)
    scroll.setObjectName(f"{dock.objectName().removesuffix('Dock')}Scroll")
    dock.setWidget(scroll)
    return scroll
