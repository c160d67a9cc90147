"""The session is the hub: the Loss dock shows the session's run history because it observes the session, not
because the window pushes records to it (docs/ARCHITECTURE.md)."""

from __future__ import annotations


def test_the_loss_dock_follows_the_sessions_records(window):
    session, loss = window.session, window.loss
    assert loss.point_count == 0
    session.add_records([{"step": 10, "loss": 1.0, "mse": 1.0, "vlb": 2.0}, {"step": 20, "loss": 0.5}])
    assert loss.point_count == 2
    session.add_records([{"step": 30, "loss": 0.25}])
    assert loss.point_count == 3
    session.reset_records([{"step": 5, "loss": 2.0}])  # a followed run that started over
    assert loss.point_count == 1
    session.discard()  # New run: the history goes, and the dock with it
    assert loss.point_count == 0
