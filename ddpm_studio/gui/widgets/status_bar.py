"""A status bar whose message is shortened with "…" where it meets the permanent labels, never cut mid-word.

Qt's own status bar paints its message into the space left of the permanent widgets and clips it there: on a
1024-pixel projector "Continued from step 600" read as "Continu" hard against "device: cpu", which looks like
two labels drawn over each other. Here the same message is elided to the space it has and the whole text is the
bar's tooltip. Only the painting changes: ``showMessage``, ``currentMessage``, ``clearMessage`` and
``messageChanged`` are Qt's own, so every caller and test reads the full text.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QStatusBar, QStyle, QStyleOption, QWidget

#: Qt's own inset of the message from the bar's left edge and from the first permanent widget.
MESSAGE_MARGIN = 6


class ElidingStatusBar(QStatusBar):
    """A :class:`QStatusBar` that elides its temporary message (see the module docstring)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.messageChanged.connect(self.setToolTip)
        self._permanent: list[QWidget] = []

    def addPermanentWidget(self, widget: QWidget, stretch: int = 0) -> None:  # noqa: N802 (Qt's name)
        super().addPermanentWidget(widget, stretch)
        self._permanent.append(widget)

    def insertPermanentWidget(self, index: int, widget: QWidget, stretch: int = 0) -> int:  # noqa: N802
        placed = super().insertPermanentWidget(index, widget, stretch)
        self._permanent.append(widget)
        return placed

    def message_rect(self) -> QRect:
        """Where the message is drawn: from the left margin to the first visible permanent widget."""
        right = self.width() - 2 * MESSAGE_MARGIN
        visible = [w.geometry().left() for w in self._permanent if w.isVisible()]
        if visible:
            right = min(visible) - MESSAGE_MARGIN
        return QRect(MESSAGE_MARGIN, 0, max(0, right - MESSAGE_MARGIN), self.height())

    def elided_message(self) -> str:
        """The current message as it fits :meth:`message_rect` ("…" where it is cut; the full text if it fits)."""
        return self.fontMetrics().elidedText(self.currentMessage(), Qt.TextElideMode.ElideRight,
                                             self.message_rect().width())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        if not self.currentMessage():
            super().paintEvent(event)
            return
        # what Qt's paintEvent does with a message shown (the panel, the permanent items' frames, the text),
        # with the text elided instead of clipped
        painter = QPainter(self)
        option = QStyleOption()
        option.initFrom(self)
        self.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelStatusBar, option, painter, self)
        for widget in self._permanent:
            if widget.isVisible():
                option.rect = widget.geometry().adjusted(-2, -1, 1, 1)
                self.style().drawPrimitive(QStyle.PrimitiveElement.PE_FrameStatusBarItem, option, painter, widget)
        painter.setPen(self.palette().windowText().color())
        painter.drawText(self.message_rect(), Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignVCenter
                         | Qt.TextFlag.TextSingleLine, self.elided_message())
        painter.end()
