"""A canvas to paint an inpainting mask on one image: the image drawn large (nearest pixels), the part to regenerate
tinted, a round brush that paints (or erases) whole pixels while the left button is down.

The mask is a boolean (H, W) array, True where the pixel is REGENERATED (the user paints what to replace); the
known part of RePaint's M58 is its complement.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

#: The tint of the pixels to regenerate (RGBA): strong enough to see on white strokes and the black background.
MASK_TINT = QColor(230, 60, 60, 150)


class MaskCanvas(QWidget):
    """The painting surface (objectName ``maskCanvas``).

    Signals:
        maskChanged(): the mask changed (a dab, a clear, a preset).
    """

    maskChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("maskCanvas")
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setMouseTracking(True)
        self._image = np.zeros((16, 16, 1), np.uint8)
        self.mask = np.zeros((16, 16), bool)
        self.radius = 1.5  # in image pixels
        self.erasing = False
        self._pressed = False
        self._hover: QPointF | None = None

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(320, 320)

    # ------------------------------------------------------------------ what it shows
    def set_image(self, image: np.ndarray) -> None:
        """Show ``image``, uint8 (H, W, C) with C = 1 or 3; a mask of another size is cleared."""
        self._image = np.ascontiguousarray(image)
        if self.mask.shape != image.shape[:2]:
            self.mask = np.zeros(image.shape[:2], bool)
            self.maskChanged.emit()
        self.update()

    def set_mask(self, mask: np.ndarray) -> None:
        self.mask = np.asarray(mask, bool).copy()
        self.maskChanged.emit()
        self.update()

    def image_rect(self) -> QRectF:
        """Where the image is drawn: the largest square-pixel rectangle centred in the widget."""
        h, w = self._image.shape[:2]
        scale = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)

    def widget_point(self, row: float, col: float) -> QPointF:
        """The widget position of image pixel (row, col)'s centre (tests and presets aim with it)."""
        rect = self.image_rect()
        h, w = self._image.shape[:2]
        return QPointF(rect.left() + (col + 0.5) * rect.width() / w, rect.top() + (row + 0.5) * rect.height() / h)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        rgb = self._image if self._image.shape[2] == 3 else np.repeat(self._image, 3, axis=2)
        rgb = np.ascontiguousarray(rgb)
        h, w = rgb.shape[:2]
        picture = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        rect = self.image_rect()
        painter.drawImage(rect, picture)  # nearest: QPainter does not smooth without SmoothPixmapTransform
        tint = np.zeros((h, w, 4), np.uint8)
        tint[self.mask] = (MASK_TINT.red(), MASK_TINT.green(), MASK_TINT.blue(), MASK_TINT.alpha())
        overlay = QImage(tint.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
        painter.drawImage(rect, overlay)
        if self._hover is not None:
            scale = rect.width() / w
            painter.setPen(QPen(QColor(120, 200, 255), 1, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(self._hover, self.radius * scale, self.radius * scale)
        painter.end()

    # ------------------------------------------------------------------ painting
    def dab(self, point: QPointF) -> bool:
        """Paint (or erase) every pixel whose centre lies within the brush around widget ``point``; True if the
        mask changed."""
        rect = self.image_rect()
        h, w = self.mask.shape
        if not rect.contains(point):
            return False
        col = (point.x() - rect.left()) / rect.width() * w - 0.5
        row = (point.y() - rect.top()) / rect.height() * h - 0.5
        rows, cols = np.mgrid[0:h, 0:w]
        inside = (rows - row) ** 2 + (cols - col) ** 2 <= max(self.radius, 0.5) ** 2
        before = self.mask.copy()
        self.mask[inside] = not self.erasing
        changed = not np.array_equal(before, self.mask)
        if changed:
            self.maskChanged.emit()
            self.update()
        return changed

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        if event.button() == Qt.MouseButton.LeftButton:
            self._pressed = True
            self.dab(event.position())
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        self._hover = event.position()
        if self._pressed and event.buttons() & Qt.MouseButton.LeftButton:
            self.dab(event.position())
        self.update()
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        if event.button() == Qt.MouseButton.LeftButton:
            self._pressed = False
        event.accept()

    def leaveEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._hover = None
        self.update()
        super().leaveEvent(event)
