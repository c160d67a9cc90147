"""The point MLP's hand-written training pass (models/mlp_fused.py) against autograd on the module itself.

The reference is independent of the code under test: ``MLPDenoiser.forward`` differentiated by torch's autograd.
Networks get random weights everywhere (the zero-initialised output layers would hide a wrong gradient upstream).
"""

from __future__ import annotations

import copy

import pytest
import torch

from ddpm_studio.core.config import default_config
from ddpm_studio.core.models.mlp import MLPDenoiser
from ddpm_studio.core.models.mlp_fused import FlatParameters, FusedMLP, fused_problem, mse_grad
from ddpm_studio.core.training.trainer import Trainer

SHAPES = [
    dict(hidden=128, num_blocks=3, time_dim=128, fourier_bands=6),  # the points default
    dict(hidden=32, num_blocks=2, time_dim=16, fourier_bands=0, out_dim=4),  # no Fourier input, wider output
    dict(data_dim=3, out_dim=3, hidden=24, num_blocks=1, time_dim=9, fourier_bands=2),  # odd sinusoid width
]


def _random_net(seed: int, **shape) -> MLPDenoiser:
    torch.manual_seed(seed)
    net = MLPDenoiser(**shape)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.3)
    return net


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("times", ["integer", "repeated", "float"])
def test_forward_and_gradients_match_autograd(shape, times):
    """Integer t (the time branch runs once per distinct t), t with many repeats (their gradients must add up),
    and real t (a flow's; no table)."""
    float_times = times == "float"
    net = _random_net(0, **shape)
    reference = copy.deepcopy(net)
    fused = FusedMLP(net, num_timesteps=None if float_times else 1000)
    gen = torch.Generator().manual_seed(1)
    batch, dim = 48, shape.get("data_dim", 2)
    x = torch.randn(batch, dim, generator=gen)
    if times == "float":
        t = torch.rand(batch, generator=gen) * 1000
    else:
        t = torch.randint(0, 1000 if times == "integer" else 4, (batch,), generator=gen)
    target = torch.randn(batch, shape.get("out_dim", 2), generator=gen)
    weights = torch.rand(batch, generator=gen) + 0.5

    out, cache = fused.forward(x, t)
    out_ref = reference(x, t)
    assert _relative_error(out, out_ref) < 1e-5
    mse, loss, d_out = mse_grad(out, target, weights)
    fused.backward(cache, d_out)
    (weights * ((out_ref - target) ** 2).mean(dim=1)).mean().backward()

    mse_ref = ((out_ref - target) ** 2).mean(dim=1).detach()
    assert torch.allclose(mse, mse_ref, rtol=1e-5) and torch.allclose(loss, weights * mse_ref, rtol=1e-5)
    for (name, p), q in zip(net.named_parameters(), reference.parameters()):
        assert p.grad is not None and _relative_error(p.grad, q.grad) < 1e-4, name


def test_the_flat_layout_keeps_the_module_and_lines_up_with_a_copy():
    net = _random_net(2, **SHAPES[0])
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flat = FlatParameters(net, [net.blocks[1].linear_in.weight])
    after = net.state_dict()
    assert list(after) == list(before) and all(torch.equal(after[k], before[k]) for k in before)
    assert flat.param.numel() == sum(v.numel() for v in before.values())
    with torch.no_grad():
        flat.param.data.mul_(2.0)  # one op on the flat tensor changes every parameter
    assert torch.equal(net.blocks[0].norm.weight, 2 * before["blocks.0.norm.weight"])
    shadow = copy.deepcopy(net)
    twin = FlatParameters.like(flat, shadow, grads=False)
    assert torch.equal(twin.param.data, flat.param.data)  # element for element, so an EMA is one lerp
    assert all(p.grad is None for p in shadow.parameters())


def test_optimizer_state_splits_into_the_per_parameter_form_and_back():
    net = _random_net(3, **SHAPES[1])
    flat = FlatParameters(net)
    optimizer = torch.optim.AdamW([flat.param], lr=1e-2)
    flat.grad.normal_()
    optimizer.step()
    state = optimizer.state_dict()
    per = flat.split_state(state)
    params = list(net.parameters())
    assert sorted(per["state"]) == list(range(len(params)))
    assert per["param_groups"][0]["params"] == list(range(len(params)))
    for index, p in enumerate(params):
        assert per["state"][index]["exp_avg"].shape == p.shape
    # the per-parameter form is what torch's own optimiser over the module's parameters would load
    torch.optim.AdamW(params, lr=1e-2).load_state_dict(per)
    joined = flat.join_state(per)
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.equal(joined["state"][0][key], state["state"][0][key])
    with pytest.raises(ValueError, match="parameters"):
        flat.join_state({"state": {0: per["state"][0]}, "param_groups": per["param_groups"]})


def _points_config(process: str = "ddpm", steps: int = 30):
    config = default_config("moons", "points", process=process)
    config.train.steps = steps
    config.train.early_stop = False
    config.train.preview_every = 0
    config.train.log_every = 10
    config.train.checkpoint_every = 0
    return config


@pytest.mark.parametrize("process", ["ddpm", "flow"])
def test_a_fused_run_trains_the_same_model_as_autograd(process):
    """Same seed, same draws: the two passes differ only by float rounding, 30 steps later still."""
    runs = {}
    for fused in (None, False):
        trainer = Trainer(_points_config(process), fused=fused)
        losses = [e.loss for e in trainer.train() if type(e).__name__ == "TrainStep"]
        runs[fused] = (trainer, losses)
    fused_trainer, fused_losses = runs[None]
    plain_trainer, plain_losses = runs[False]
    assert isinstance(fused_trainer.fused, FusedMLP) and plain_trainer.fused is None
    assert fused_losses == pytest.approx(plain_losses, rel=1e-4)
    for a, b in zip(fused_trainer.net.parameters(), plain_trainer.net.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    for a, b in zip(fused_trainer.ema.model.parameters(), plain_trainer.ema.model.parameters()):
        assert torch.allclose(a, b, atol=1e-5)


def test_checkpoints_resume_across_the_two_passes(tmp_path):
    """A checkpoint stores the optimiser per parameter either way, so either pass continues the other's run."""
    straight = Trainer(_points_config(steps=20), fused=False)
    for _ in straight.train():
        pass
    config = _points_config(steps=10)
    first = Trainer(config, run_dir=tmp_path / "run")  # fused
    assert first.fused is not None
    for _ in first.train():
        pass
    first.run_lock.release()
    config.train.steps = 20
    second = Trainer(config, run_dir=tmp_path / "run", resume=True, fused=False)
    assert second.step == 10
    for _ in second.train():
        pass
    for a, b in zip(second.net.parameters(), straight.net.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    second.run_lock.release()
    config.train.steps = 25
    third = Trainer(config, run_dir=tmp_path / "run", resume=True)  # back to the fused pass
    assert third.fused is not None and third.step == 20
    for _ in third.train():
        pass
    assert third.step == 25 and all(torch.isfinite(p).all() for p in third.net.parameters())
    third.run_lock.release()


def test_a_dropped_gradient_does_not_silently_stop_training():
    trainer = Trainer(_points_config(steps=3))
    trainer.optimizer.zero_grad(set_to_none=True)  # what a generic caller might do between steps
    before = trainer.fused.flat.param.detach().clone()
    for _ in trainer.train():
        pass
    assert not torch.equal(trainer.fused.flat.param.detach(), before)


def test_runs_the_pass_does_not_cover_use_autograd():
    assert fused_problem(torch.nn.Linear(2, 2)) == "not the point MLP"
    assert fused_problem(MLPDenoiser(num_classes=3)) == "a class-conditional MLP"
    assert fused_problem(MLPDenoiser(dropout=0.1)) == "dropout"
    for section, key, value in [("train", "loss", "hybrid"), ("diffusion", "variance", "learned")]:
        config = _points_config(steps=2)
        setattr(getattr(config, section), key, value)
        if value == "learned":
            config.train.loss = "hybrid"
        assert Trainer(config).fused is None
    images = default_config("digits", "images")
    images.train.steps = 1
    assert Trainer(images).fused is None
