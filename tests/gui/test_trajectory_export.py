"""The whole reverse process on screen and in files: x_T as the first frame, one view box for every frame,
text on exported pictures, and files as readable as the user's umask allows."""

from __future__ import annotations

import os
import stat
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ddpm_studio.core.config import RunConfig
from ddpm_studio.core.data import load_dataset
from ddpm_studio.core.io.captions import add_caption, printable
from ddpm_studio.core.io.export import save_npz, save_png
from ddpm_studio.core.io.runs import atomic_write_text, current_umask, save_checkpoint, write_config
from ddpm_studio.core.pipeline import DiffusionPipeline, build_diffusion
from ddpm_studio.core.sampling import sample
from ddpm_studio.gui import export
from ddpm_studio.gui.trajectory_store import (
    INITIAL_STEP,
    SampleSet,
    TrajectoryStore,
    fraction_outside,
    frames_bounds,
)

T = 12  # frames of the hand-made trajectories
CHAIN_T = 40  # timesteps of the sampled chain (the linear schedule needs T > 20)
SEED = 3


class Spy(nn.Module):
    """A stand-in eps network (0.1 x_t) that remembers every x it is fed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return 0.1 * x


def points_pipeline(network: nn.Module) -> DiffusionPipeline:
    config = RunConfig()
    config.diffusion.schedule, config.diffusion.num_timesteps = "linear", CHAIN_T
    return DiffusionPipeline(config, build_diffusion(config.diffusion, "points"), network, "points", (2,),
                             torch.device("cpu"), shift=torch.tensor([1.0, -2.0]), scale=torch.tensor([0.5, 2.0]))


@pytest.fixture
def umask():
    """Set the process umask for one test and put the old one back."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


# ---------------------------------------------------------------------------------------------- x_T
def test_the_sampler_starts_from_the_x_T_it_exposes():
    spy = Spy()
    run = points_pipeline(spy).sample(5, num_steps=4, seed=SEED)
    records = list(run)
    assert len(records) == 4
    torch.testing.assert_close(spy.seen[0], run.x_T, rtol=0, atol=0)
    # x_T is the seeded generator's first N(0, I) draw, as before the pipeline exposed it: same seed, same samples
    expected = torch.randn((5, 2), generator=torch.Generator().manual_seed(SEED))
    torch.testing.assert_close(run.x_T, expected, rtol=0, atol=0)
    direct = points_pipeline(Spy())
    old_way = sample(direct.diffusion, direct.network, (5, 2), num_steps=4,
                     generator=torch.Generator().manual_seed(SEED))
    torch.testing.assert_close(records[-1].x, list(old_way)[-1].x)


def test_explicit_noise_is_where_the_chain_starts():
    spy = Spy()
    noise = torch.full((3, 2), 0.25)
    run = points_pipeline(spy).sample(3, num_steps=2, seed=0, noise=noise)
    list(run)
    assert run.x_T is noise and torch.equal(spy.seen[0], noise)


def run_sampling_job(job) -> tuple[list, TrajectoryStore]:
    """Drive a sampling job's generator on this thread: (what it yielded, the store it returned)."""
    yielded = []
    while True:
        try:
            yielded.append(next(job))
        except StopIteration as end:
            return yielded, end.value


def test_the_first_trajectory_frame_is_x_T_with_the_prediction_made_from_it():
    from ddpm_studio.gui.jobs import sampling as job_sampling

    spy = Spy()
    pipeline = points_pipeline(spy)
    dataset = load_dataset("moons", num_points=400, seed=0)
    job = job_sampling.sample(lambda: pipeline, 6, CHAIN_T, SEED, dataset, stop=threading.Event())
    yielded, store = run_sampling_job(job)
    assert yielded[0].position == 0  # x_T is the first frame handed to the screen
    assert len(store) == CHAIN_T + 1 and store.complete
    first, second = store.frame(0), store.frame(1)
    assert first.is_initial and first.step == INITIAL_STEP and not second.is_initial
    assert first.t_state == CHAIN_T and first.t_fed == CHAIN_T and second.t_fed == CHAIN_T
    # the noise the network first saw, in the data's coordinates (x * scale + shift)
    x_T = spy.seen[0] * torch.tensor([0.5, 2.0]) + torch.tensor([1.0, -2.0])
    np.testing.assert_allclose(first.x, x_T.numpy(), rtol=1e-6)
    # its x0_hat is the first step's (made from x_T), and the step-0 frame holds the state after that step
    np.testing.assert_array_equal(first.x0_hat, second.x0_hat)
    assert not np.allclose(second.x, first.x)
    betas = np.linspace(1e-4 * 1000 / CHAIN_T, 0.02 * 1000 / CHAIN_T, CHAIN_T)  # Ho et al.'s linear, scaled to T
    assert first.alpha_bar == pytest.approx(np.prod(1 - betas), rel=1e-6)
    assert store.frame(-1).alpha_bar == 1.0 and store.frame(-1).t_state == 0
    assert first.forward is not None and first.forward.shape == (6, 2)


def test_the_x_T_frame_is_kept_when_the_budget_thins_the_steps():
    store = TrajectoryStore("points", 100, (10, 2), with_forward=False, budget_bytes=10 * 10 * 2 * 4 * 2)
    assert store.stride > 1 and store.keeps(INITIAL_STEP)
    with pytest.raises(ValueError, match="step must be"):
        store.append(-2, 100, 100, np.zeros((10, 2)), np.zeros((10, 2)))


# ---------------------------------------------------------------------------------------------- one view box
def spread_store() -> TrajectoryStore:
    """Points whose spread shrinks from 3 (x_T) to 0.1 (the samples); x0_hat reaches 6 at the first frame only."""
    rng = np.random.default_rng(0)
    store = TrajectoryStore("points", 5, (400, 2), with_forward=False,
                            reference=rng.normal(0, 0.1, (300, 2)).astype(np.float32))
    for step, spread in zip(range(INITIAL_STEP, 5), (3.0, 2.0, 1.0, 0.5, 0.2, 0.1), strict=True):
        x = rng.normal(0, spread, (400, 2)).astype(np.float32)
        x0_hat = rng.normal(0, 6.0 if step == INITIAL_STEP else 0.1, (400, 2)).astype(np.float32)
        store.append(step, 5 - max(step, 0), 4 - step, x, x0_hat)
    return store


def inside(points: np.ndarray, box) -> float:
    (x0, x1), (y0, y1) = box
    return float(np.mean((points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)))


def test_the_view_box_holds_the_central_points_of_every_x_t():
    store = spread_store()
    x0, x1, y0, y1 = bounds = store.view_bounds()
    for position in range(len(store)):  # at most 1% of a frame beyond the box along each axis
        assert inside(store.x[position], ((x0, x1), (y0, y1))) >= 0.98
    # a box from the samples alone (what the panels fitted before) loses the noise
    final_only = frames_bounds(store.x[len(store) - 1 :], store.reference)
    assert inside(store.x[0], (final_only[:2], final_only[2:])) < 0.5
    # x0_hat does not stretch the box; what of it falls outside is counted
    box = ((x0, x1), (y0, y1))
    assert fraction_outside(store.x0_hat[0], bounds) == pytest.approx(1 - inside(store.x0_hat[0], box))
    assert fraction_outside(store.x0_hat[0], bounds) > 0.05 and fraction_outside(store.x0_hat[-1], bounds) == 0.0
    assert fraction_outside(np.array([[np.nan, 0.0], [0.0, 0.0]]), bounds) == 0.5


def test_scrubbing_never_moves_the_view(qtbot):
    from ddpm_studio.gui.docks.trajectory import TrajectoryDock

    dock = TrajectoryDock()
    qtbot.addWidget(dock)
    dock.show()
    store = spread_store()
    dock.set_store(store)
    view = dock._panels[0].plot.getViewBox()
    ranges = []
    for position in (len(store) - 1, 0, 2):
        dock.timestepSlider.setValue(position)
        qtbot.waitUntil(lambda p=position: dock.displayed is not None and dock.displayed.position == p)
        ranges.append(view.viewRange())
        assert inside(store.x[position], ranges[-1]) >= 0.98
    assert ranges[0] == ranges[1] == ranges[2]
    assert dock.displayed.position == 2
    dock.timestepSlider.setValue(0)
    qtbot.waitUntil(lambda: dock.displayed.position == 0)
    assert "x_T at t = 5" in dock.frameLabel.text() and "pure noise" in dock.frameLabel.text()
    assert "off the view" in dock.frameLabel.text()  # the far-flung x0_hat of the first frame is counted


# ---------------------------------------------------------------------------------------------- text in exports
def dark_pixels(image: np.ndarray) -> int:
    return int(np.count_nonzero(image.min(axis=-1) < 100))


def test_printable_spells_what_the_default_font_cannot_draw():
    assert printable("ᾱ_t = 0.5 · η = 1 …") == "abar_t = 0.5 | eta = 1 ..."
    assert printable("predicted x₀") == "predicted x0"


def test_a_caption_sits_above_an_unchanged_picture():
    picture = np.full((40, 300, 3), 200, np.uint8)
    captioned = add_caption(picture, ["Final samples: ancestral, 100 steps"])
    band = captioned[: captioned.shape[0] - 40]
    np.testing.assert_array_equal(captioned[-40:], picture)
    assert band.shape[0] > 16 and dark_pixels(band) > 50
    other = add_caption(picture, ["Preview at step 500"])
    assert other.shape == captioned.shape and not np.array_equal(other, captioned)
    # long lines wrap to the width instead of running off the edge
    assert add_caption(picture, ["word " * 40]).shape[0] > captioned.shape[0]


def test_the_sample_grid_carries_its_caption():
    rng = np.random.default_rng(1)
    samples = SampleSet("images", rng.integers(0, 256, (9, 8, 8, 1), dtype=np.uint8), None,
                        "Final samples: ancestral, 100 steps", 40)
    plain = export.sample_grid_image(samples, caption=False)
    captioned = export.sample_grid_image(samples)
    assert captioned.shape[1] == plain.shape[1] and captioned.shape[0] > plain.shape[0]
    np.testing.assert_array_equal(captioned[-plain.shape[0] :], plain)
    assert dark_pixels(captioned[: -plain.shape[0]]) > 100


def captioned_store(kind: str) -> TrajectoryStore:
    rng = np.random.default_rng(2)
    alpha_bar = np.concatenate([[1.0], np.cumprod(1 - np.linspace(0.01, 0.3, T))])
    shape = (4, 8, 8, 1) if kind == "images" else (50, 2)
    store = TrajectoryStore(kind, T, shape, with_forward=False, alpha_bar=alpha_bar)
    for step in range(INITIAL_STEP, T):
        batch = (lambda: rng.integers(0, 256, shape, dtype=np.uint8)) if kind == "images" \
            else (lambda: rng.normal(size=shape).astype(np.float32))
        store.append(step, T - max(step, 0), T - step - 1, batch(), batch())
    store.caption = "ancestral, 12 steps"
    return store


def test_frame_captions_say_t_and_alpha_bar():
    store = captioned_store("points")
    abar_T = np.prod(1 - np.linspace(0.01, 0.3, T))
    assert export.frame_caption(store.frame(0), store.caption) == [
        f"t = T = {T}   ᾱ_t = {abar_T:.3g}   x_T: pure noise, before any step", "step 0 / 12   ancestral, 12 steps"]
    assert export.frame_caption(store.frame(-1))[0] == "t = 0   ᾱ_t = 1   x_0: the samples"


@pytest.mark.parametrize("kind", ["images", "points"])
@pytest.mark.parametrize("with_x0_hat", [True, False])
def test_every_gif_frame_carries_its_t(tmp_path, kind, with_x0_hat):
    store = captioned_store(kind)
    frames = export.trajectory_frames(store, with_x0_hat=with_x0_hat)
    assert len(frames) == T + 1 and len({f.shape for f in frames}) == 1
    if kind == "points":
        halves = 2 if with_x0_hat else 1
        assert frames[0].shape[1] == halves * export.SCATTER_SIZE_PX + (halves - 1) * export.GIF_GAP_PX
    top = 2 * 20  # the two caption lines
    bands = [f[:top] for f in frames]
    assert all(dark_pixels(b) > 100 for b in bands)
    assert not np.array_equal(bands[0], bands[1]) and not np.array_equal(bands[1], bands[-1])
    path = export.export_trajectory_gif(tmp_path / "t.gif", store, with_x0_hat=with_x0_hat)
    with Image.open(path) as gif:
        assert gif.n_frames == T + 1
        first = np.asarray(gif.convert("RGB"))
    assert dark_pixels(first[:top]) > 100


def test_both_gif_variants_are_offered_and_the_suffix_picks_the_full_one():
    gifs = [f for f in export.FORMATS if f.key == "gif"]
    assert [dict(f.options).get("with_x0_hat", True) for f in gifs] == [True, False]
    assert export.format_for("a.gif") is gifs[0]
    assert export.format_for("a.gif", gifs[1].name_filter) is gifs[1]


# ---------------------------------------------------------------------------------------------- file modes
def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_current_umask_reads_the_process_umask(umask):
    umask(0o027)
    assert current_umask() == 0o027
    assert current_umask() == 0o027  # reading it did not change it


def test_every_writer_gives_files_the_users_default_permissions(tmp_path, umask):
    umask(0o022)
    written = [
        atomic_write_text(tmp_path / "a.txt", "x"),
        write_config(tmp_path / "run", {"a": 1}),
        save_checkpoint(tmp_path / "run" / "checkpoints" / "step_1.safetensors", {"w": torch.zeros(2)}, {}),
        save_png(tmp_path / "grid.png", np.zeros((4, 4, 1), np.uint8)),
        save_npz(tmp_path / "s.npz", samples=np.zeros(3)),
        export.export_grid_png(tmp_path / "g.png", SampleSet("points", np.zeros((5, 2), np.float32), None, "c", 0)),
    ]
    assert [oct(mode(p)) for p in written] == [oct(0o644)] * len(written)
    umask(0o002)
    assert mode(atomic_write_text(tmp_path / "b.txt", "x")) == 0o664
    umask(0o077)
    assert mode(atomic_write_text(tmp_path / "c.txt", "x")) == 0o600


def test_rewriting_a_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "config.json"
    path.write_text("{}")
    os.chmod(path, 0o640)
    atomic_write_text(path, "{}\n")
    assert mode(path) == 0o640 and path.read_text() == "{}\n"
