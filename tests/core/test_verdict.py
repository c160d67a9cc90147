"""The quality verdict (M46) on sample sets with known faults, and ``evaluate --samples`` (issue 27, part 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ddpm_studio.cli import run_cli
from ddpm_studio.core.data import load_dataset
from ddpm_studio.core.data.mixtures import MIXTURES
from ddpm_studio.core.scores.faults import FAULTS
from ddpm_studio.core.scores.verdict import LENS_NAMES, QualityVerdict, TooFewSamples

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def gaussians8():
    dataset = load_dataset("gaussians8", seed=0)
    return dataset, QualityVerdict(dataset)


def _model_space(dataset, points: np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(points) - dataset.shift.double()) / dataset.scale.double()


def _draw(dataset, fault: str, seed: int, n: int = 1000) -> torch.Tensor:
    train = dataset.to_data_space(dataset.train).double().numpy()
    return _model_space(dataset, FAULTS[fault](MIXTURES[dataset.name], n, np.random.default_rng(seed), train))


# what each planted fault must be caught by (at least these lenses; benchmarks/lens_audit.py has the full table)
CAUGHT_BY = {
    "copies": {"copy_rate"},
    "shrunk": {"coverage", "mode_spread"},
    "collapse": {"coverage", "mode_spread"},
    "dropped": {"coverage", "mode_shares"},
    "haze": {"off_support"},
}


@pytest.mark.parametrize("seed", [11, 12])
def test_fresh_draws_read_clean(gaussians8, seed):
    dataset, verdict = gaussians8
    result = verdict.judge(_draw(dataset, "fresh", seed))
    assert result.clean and result.failed == [], result.summary()
    assert [r.name for r in result.readings] == list(LENS_NAMES)
    assert result.summary() == "clean (7 lenses)"


@pytest.mark.parametrize("fault", sorted(CAUGHT_BY))
def test_each_fault_is_caught_by_its_lenses(gaussians8, fault):
    dataset, verdict = gaussians8
    result = verdict.judge(_draw(dataset, fault, 21))
    assert not result.clean
    assert CAUGHT_BY[fault] <= set(result.failed), result.summary()
    assert all(name in result.summary() for name in result.failed)


def test_the_old_two_lenses_pass_every_fault_but_haze(gaussians8):
    """The faults of issue 27 pass sliced Wasserstein and off-support alone: why the other lenses exist."""
    dataset, verdict = gaussians8
    for fault in ("copies", "shrunk", "collapse"):
        result = verdict.judge(_draw(dataset, fault, 31))
        assert result.reading("sliced_wasserstein").passed and result.reading("off_support").passed, fault


def test_nonfinite_samples_fail_and_are_named(gaussians8):
    dataset, verdict = gaussians8
    samples = _draw(dataset, "fresh", 41)
    samples[:5] = float("nan")
    result = verdict.judge(samples)
    assert result.failed == ["finite"] and "NaN" in result.reading("finite").note


def test_too_few_samples_are_refused(gaussians8):
    dataset, verdict = gaussians8
    assert verdict.min_samples == dataset.heldout.shape[0] // 2
    with pytest.raises(TooFewSamples, match=f"at least {verdict.min_samples}"):
        verdict.judge(_draw(dataset, "fresh", 51, n=verdict.min_samples - 1))
    verdict.judge(_draw(dataset, "fresh", 51, n=verdict.min_samples))  # exactly enough is judged


def test_to_dict_holds_every_lens_clean_and_failed(gaussians8):
    dataset, verdict = gaussians8
    report = verdict.judge(_draw(dataset, "dropped", 61)).to_dict()
    json.dumps(report)  # JSON-ready
    assert report["clean"] is False and "mode_shares" in report["failed"]
    for name in LENS_NAMES:
        assert isinstance(report[name], float) and name in report["lenses"]
        assert set(report["lenses"][name]) >= {"value", "reference", "limit", "passed", "unit", "note"}
    assert report["modes"] == "mixture centres"


def test_data_without_known_modes_gets_no_mode_lenses():
    dataset = load_dataset("spiral", seed=0, num_points=2000)
    result = QualityVerdict(dataset).judge(dataset.heldout.repeat(2, 1))
    assert [r.name for r in result.readings] == [n for n in LENS_NAMES if not n.startswith("mode_")]
    assert result.modes is None


def test_labelled_toys_count_modes_by_their_classes():
    dataset = load_dataset("ring", seed=0, num_points=4000)
    verdict = QualityVerdict(dataset)
    heldout = dataset.heldout
    one_mode = heldout[verdict._heldout_modes == 0]
    result = verdict.judge(one_mode.repeat(heldout.shape[0] // one_mode.shape[0] + 1, 1))
    assert "mode_shares" in result.failed and result.modes == "class labels"


# ---------------------------------------------------------------------------- evaluate --samples
@pytest.fixture(scope="module")
def mixture_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("verdict") / "g8"
    assert run_cli(["train", "--data", "gaussians8", "--steps", "10", "--T", "50", "--preview-every", "0",
                    "--out", str(run), "--quiet"]) == 0
    return run


def _save(path: Path, dataset, samples: torch.Tensor) -> Path:
    np.savez(path, samples=dataset.to_data_space(samples).numpy().astype(np.float32))
    return path


def test_evaluate_samples_writes_the_verdict(mixture_run, gaussians8, tmp_path, capsys):
    dataset, _ = gaussians8
    out = tmp_path / "v.json"
    fresh = _save(tmp_path / "fresh.npz", dataset, _draw(dataset, "fresh", 71))
    assert run_cli(["evaluate", str(mixture_run), "--samples", str(fresh), "--json", str(out), "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert report["clean"] is True and report["failed"] == []
    assert all(name in report for name in LENS_NAMES) and "nats_per_dim" not in report  # no bound unless --bound
    assert "verdict: clean" in capsys.readouterr().out

    copies = _save(tmp_path / "copies.npz", dataset, _draw(dataset, "copies", 72))
    assert run_cli(["evaluate", str(mixture_run), "--samples", str(copies), "--json", str(out), "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert report["clean"] is False and report["failed"] == ["copy_rate"]
    assert "FAIL  copy_rate" in capsys.readouterr().out


def test_evaluate_samples_judges_what_sample_writes(mixture_run, tmp_path):
    """The file 'sample --out' writes is read back as it is (an untrained model: not clean, and says why)."""
    samples, out = tmp_path / "s.npz", tmp_path / "v.json"
    assert run_cli(["sample", str(mixture_run), "--num", "500", "--steps", "10", "--method", "ddim",
                    "--out", str(samples), "--quiet"]) == 0
    assert run_cli(["evaluate", str(mixture_run), "--samples", str(samples), "--json", str(out), "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert report["clean"] is False and report["failed"] and report["num_samples"] == 500


@pytest.mark.parametrize("case, message", [
    ("few", "at least 409 finite samples"),
    ("shape", "expected samples of shape (N, 2)"),
    ("key", "holds no 'samples' array"),
    ("missing", "no such file"),
    ("corrupt", "damaged or truncated"),
])
def test_evaluate_samples_bad_files_get_one_line(mixture_run, tmp_path, capsys, case, message):
    path = tmp_path / f"{case}.npz"
    if case == "few":
        np.savez(path, samples=np.zeros((100, 2), np.float32))
    elif case == "shape":
        np.savez(path, samples=np.zeros((500, 3), np.float32))
    elif case == "key":
        np.savez(path, points=np.zeros((500, 2), np.float32))
    elif case == "corrupt":
        path.write_bytes(b"PK\x03\x04 not really a zip")
    assert run_cli(["evaluate", str(mixture_run), "--samples", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- the early-stop check
class _FixedSamples:
    """A stand-in pipeline whose sampler returns a given sample set and remembers how it was asked."""

    def __init__(self, samples: torch.Tensor) -> None:
        self.samples, self.asked = samples, {}
        self.diffusion = type("D", (), {"num_timesteps": 1000})()

    def sample_final(self, num, **kwargs):
        self.asked = {"num": num, **kwargs}
        return self.samples[:num].float()


def test_the_early_stop_check_uses_the_verdict_and_the_faithful_sampler(gaussians8):
    from ddpm_studio.core.training.early_stop import CHECK_METHOD, CHECK_SPACING, CHECK_STEPS, EarlyStopper

    dataset, _ = gaussians8
    stopper = EarlyStopper(dataset, patience=2)
    fresh = _FixedSamples(_draw(dataset, "fresh", 81))
    check = stopper.check(fresh, step=500)
    assert fresh.asked == {"num": 1000, "num_steps": CHECK_STEPS, "method": CHECK_METHOD,
                           "spacing": CHECK_SPACING, "seed": 0}
    assert check.clean and check.quality <= 1.0 and check.describe().endswith("clean")
    copies = stopper.check(_FixedSamples(_draw(dataset, "copies", 82)), step=1000)
    assert copies.failed == ("copy_rate",) and copies.quality > 1.0
    assert copies.describe().endswith("not clean: copy_rate 100.0 % copy a training point (held-out "
                                      f"{100 * copies_reference(stopper):.1f} %)")
    assert stopper.reason().startswith("held-out quality stopped improving (no 5 % gain in 2 checks); last check "
                                       "at step 1000: SW ")
    assert "not clean: copy_rate 100.0 %" in stopper.reason() and "; best at step 500: " in stopper.reason()
    resumed = type(copies).from_record(json.loads(json.dumps(copies.to_record())))  # what a resume reads back
    assert resumed == copies and resumed.describe() == copies.describe()


def copies_reference(stopper) -> float:
    """The held-out copy rate the stopper's verdict compares with (M43)."""
    dataset = stopper.dataset
    from ddpm_studio.core.scores.neighbours import copy_rate

    return copy_rate(dataset.heldout.double(), dataset.train.double())


def test_early_stop_records_old_and_new_load(gaussians8):
    from ddpm_studio.core.training.early_stop import EarlyStopper, QualityCheck

    old = QualityCheck.from_record([250, 1.2, 0.015])
    assert old.severity is None and old.clean is None and old.quality == pytest.approx(max(1.2 / 1.5, 0.5))
    new = QualityCheck(500, 1.0, 0.01, 0.8, ("coverage",))
    assert QualityCheck.from_record(json.loads(json.dumps(new.to_record()))) == new
    assert QualityCheck.from_record([500, 1.0, 0.01, 0.8, ["coverage"]]) == new  # saved before notes were
    stopper = EarlyStopper(gaussians8[0], patience=3)
    stopper.load_state_dict({"history": [[250, 1.2, 0.015], new.to_record()], "best": 1, "since_best": 0})
    assert stopper.best == new and stopper.state_dict()["history"][0] == [250, 1.2, 0.015]


# ---------------------------------------------------------------------------- images
@pytest.fixture(scope="module")
def digits_verdict(tmp_path_factory):
    from ddpm_studio.core.scores.image_verdict import ImageQualityVerdict

    dataset = load_dataset("digits", image_size=8, seed=0)
    return dataset, ImageQualityVerdict(dataset, cache_dir=tmp_path_factory.mktemp("features"), feature_steps=150)


def test_image_verdict_passes_unseen_digits_and_names_each_fault(digits_verdict):
    dataset, verdict = digits_verdict
    g = torch.Generator().manual_seed(0)
    heldout = verdict.judge(dataset.heldout)
    assert heldout.clean, heldout.summary()
    assert [r.name for r in heldout.readings] == ["finite", "coverage", "copy_rate", "mode_shares", "mode_spread"]
    copies = dataset.train[torch.randperm(dataset.train.shape[0], generator=g)[:200]]
    assert verdict.judge(copies).failed == ["copy_rate"]
    labels = dataset.labels
    means = torch.stack([dataset.train[labels == c].mean(0) for c in range(10)])
    assert {"coverage", "mode_spread"} <= set(verdict.judge(means[labels[:300]]).failed)  # collapse
    no_zeros = dataset.train[labels != 0]
    noisy = (no_zeros + 0.15 * torch.randn(no_zeros.shape, generator=g)).clamp(-1, 1)[:400]  # not copies
    assert "mode_shares" in verdict.judge(noisy).failed
    with pytest.raises(TooFewSamples, match="at least 90"):
        verdict.judge(dataset.heldout[:89])


def test_evaluate_samples_of_an_image_run(tmp_path, capsys, monkeypatch):
    from ddpm_studio.core.scores import image_verdict

    original = image_verdict.load_or_train_feature_net
    # the feature network's 600 training steps take minutes on a busy machine; 40 serve a test of the wiring
    monkeypatch.setattr(image_verdict, "load_or_train_feature_net",
                        lambda *args, **kwargs: original(*args, **{**kwargs, "steps": 40}))
    run, out, samples = tmp_path / "digits", tmp_path / "v.json", tmp_path / "s.npz"
    assert run_cli(["train", "--data", "digits", "--image-size", "8", "--steps", "2", "--batch-size", "8",
                    "--T", "20", "--preview-every", "0", "--out", str(run), "--quiet"]) == 0
    assert run_cli(["sample", str(run), "--num", "100", "--steps", "5", "--method", "ddim", "--out", str(samples),
                    "--quiet"]) == 0
    assert run_cli(["evaluate", str(run), "--samples", str(samples), "--json", str(out), "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert report["clean"] is False and "coverage" in report["failed"]  # two steps of training draw no digits
    assert set(report) >= {"finite", "coverage", "copy_rate", "mode_shares", "mode_spread"}
    assert "held-out images" in capsys.readouterr().out
    np.savez(samples, samples=np.zeros((100, 8, 8, 3), np.uint8))
    assert run_cli(["evaluate", str(run), "--samples", str(samples), "--quiet"]) == 2
    assert "expected uint8 images of shape (N, 8, 8, 1)" in capsys.readouterr().err
