"""The benchmark script runs end to end in --quick mode (figures are printed, never asserted: no timed tests).

The diffusers comparison needs the bench extra and minutes of CPU, so the suite runs the other sections.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_tests_keep_the_studio_settings_in_a_private_folder(private_settings_folder):
    """No test may write the user's real settings (~/.config/DDPM Studio/ddpm-studio.conf): conftest's fixture."""
    from PySide6.QtCore import QSettings

    assert private_settings_folder in Path(QSettings("DDPM Studio", "ddpm-studio").fileName()).parents
    assert os.environ["XDG_CONFIG_HOME"] == str(private_settings_folder)  # inherited by the studio runs below


def test_bench_quick_runs_and_writes_json(tmp_path, private_settings_folder):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick", "--device", "cpu", "--json", str(out),
         "--only", "peak", "--only", "points", "--only", "levers", "--only", "studio"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["peak"]["peak_gflops"] > 0
    assert figures["points"]["steps_per_sec"] > 0 and figures["points"]["floor"] > 0
    assert {row["variant"] for row in figures["levers"]} >= {"channels_last", "inference_mode", "written out"}
    assert all(row["shipped_ms"] > 0 and row["variant_ms"] > 0 for row in figures["levers"])
    studio = figures["studio"]
    assert studio["steps"] == 60
    # a stall is a real gap between two of the meter's ticks: positive and finite (NaN when the meter never ran),
    # and never longer than the whole studio run it was measured in
    for key in ("max_stall_training_ms", "max_stall_sampling_ms"):
        assert 0 < studio[key] < float("inf"), (key, studio[key])
    assert studio["max_stall_training_ms"] < 1000 * max(studio["studio_runs_s"]) * 3
    # the studio windows it drove saved their layout in the tests' settings folder, not the user's
    assert (private_settings_folder / "DDPM Studio" / "ddpm-studio.conf").is_file()
