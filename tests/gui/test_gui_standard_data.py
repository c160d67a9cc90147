"""The standard data sets in the studio's Setup list (issue 31): offered with what their first use downloads, and
an offline machine gets the one-line reason and a usable window (never the internet: the mirror is a closed
loopback port)."""

from __future__ import annotations

import socket

import pytest
from gui_helpers import TIMEOUT_MS

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty cache and a mirror where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DDPM_STUDIO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DDPM_STUDIO_DATA_MIRROR", f"http://127.0.0.1:{port}")
    return tmp_path / "cache"


def test_the_setup_list_offers_the_standard_sets_with_their_download(offline, window):
    combo = window.setup.datasetCombo
    specs = [(combo.itemData(i) or {}).get("spec") for i in range(combo.count())]
    for name in ("mnist", "fashion-mnist", "cifar10"):
        assert name in specs
    tip = combo.itemData(specs.index("cifar10"), 3)  # Qt.ToolTipRole
    assert "50,000 training and 10,000 test images" in tip and "170.1 MB" in tip
    assert str(offline / "data" / "cifar10") in tip


def test_choosing_mnist_offline_says_why_and_keeps_the_window_usable(qtbot, offline, window):
    assert window.setup.select_builtin("mnist")
    status = window.statusBar()
    qtbot.waitUntil(lambda: status.currentMessage().startswith("Cannot load mnist: "), timeout=TIMEOUT_MS)
    assert "mnist: downloading" in status.currentMessage() and "DDPM_STUDIO_DATA_MIRROR" in status.currentMessage()
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=TIMEOUT_MS)
    assert sorted(path.name for path in (offline / "data" / "mnist").iterdir()) == [".lock"]
    assert window.setup.select_builtin("moons")
    qtbot.waitUntil(lambda: not window.jobs.busy and window.trainButton.isEnabled(), timeout=TIMEOUT_MS)
