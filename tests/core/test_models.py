"""Behaviour of the denoising networks: embedding maths, shapes, t-dependence, gradients, presets."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from ddpm_studio.core.models import (
    MODEL_PRESETS,
    MLPDenoiser,
    TimeEmbedding,
    UNet,
    build_model,
    count_parameters,
    format_parameter_count,
    timestep_embedding,
)
from ddpm_studio.core.models.unet import SelfAttention

# A U-Net small enough to run in milliseconds, with attention at its lowest level and in the middle block.
SMALL_UNET = {
    "base_channels": 8,
    "channel_mults": (1, 2, 2),
    "num_res_blocks": 1,
    "num_groups": 4,
    "num_heads": 2,
}


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(2)


def perturb_(model: torch.nn.Module, scale: float = 0.1) -> torch.nn.Module:
    """Add noise to every parameter, so zero-initialised layers stop hiding what feeds them."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn_like(parameter))
    return model


def small_unet(in_channels: int = 1, out_channels: int = 1, image_size: int = 16) -> UNet:
    lowest = math.ceil(image_size / 4)  # the third level: two stride-2 halvings, rounding up
    return UNet(
        in_channels, out_channels, image_size=image_size, attention_resolutions=(lowest,), **SMALL_UNET
    )


# --- timestep embedding -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [1, 6, 7, 32])
def test_timestep_embedding_matches_closed_form(dim: int) -> None:
    t = np.array([0, 1, 17, 999])
    half = dim // 2
    expected = np.zeros((len(t), dim))
    for b, step in enumerate(t):
        for i in range(half):
            frequency = 10000.0 ** (-i / half)
            expected[b, i] = math.cos(step * frequency)
            expected[b, half + i] = math.sin(step * frequency)
    got = timestep_embedding(torch.from_numpy(t), dim)
    assert got.dtype == torch.float32
    assert got.shape == (len(t), dim)
    # float32 arguments of size ~1000 carry ~1e-4 absolute error.
    np.testing.assert_allclose(got.numpy(), expected, atol=5e-4, rtol=0)


def test_timestep_embedding_same_for_int_and_float_t() -> None:
    t = torch.tensor([3, 250])
    torch.testing.assert_close(timestep_embedding(t, 16), timestep_embedding(t.float(), 16))


def test_timestep_embedding_rejects_non_vector_t() -> None:
    with pytest.raises(ValueError, match=r"shape \(B,\)"):
        timestep_embedding(torch.tensor(5), 8)


def test_time_embedding_output_shape() -> None:
    assert TimeEmbedding(16, 64)(torch.tensor([1, 2, 3])).shape == (3, 64)


# --- U-Net --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [8, 16, 28, 32])
def test_unet_output_shape(size: int, channels: int) -> None:
    model = small_unet(channels, channels, image_size=size)
    x = torch.randn(2, channels, size, size)
    assert model(x, torch.tensor([0, 999])).shape == (2, channels, size, size)


def test_unet_four_levels_round_trip_odd_sizes() -> None:
    # 28 -> 14 -> 7 -> 4: the up path must resize 8 back to 7 to meet its skip.
    model = UNet(1, 1, base_channels=8, channel_mults=(1, 1, 1, 1), num_res_blocks=1, num_groups=4)
    assert model(torch.randn(1, 1, 28, 28), torch.tensor([5])).shape == (1, 1, 28, 28)


def test_unet_starts_at_zero() -> None:
    # Zero-initialised output conv: the untrained model predicts 0 whatever it sees.
    model = small_unet()
    out = model(torch.randn(2, 1, 16, 16), torch.tensor([1, 500]))
    assert torch.count_nonzero(out) == 0


def test_unet_output_depends_on_t() -> None:
    model = perturb_(small_unet()).eval()
    x = torch.randn(1, 1, 16, 16).repeat(2, 1, 1, 1)
    out = model(x, torch.tensor([10, 900]))
    assert not torch.allclose(out[0], out[1], atol=1e-4)


def test_unet_gradients_reach_every_parameter() -> None:
    model = perturb_(small_unet(3, 6))
    model(torch.randn(2, 3, 16, 16), torch.tensor([3, 700])).square().mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, f"no gradient reached: {missing}"


def test_unet_channels_last_matches_contiguous() -> None:
    model = perturb_(small_unet(3, 3)).eval()
    model_cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 16, 16)
    t = torch.tensor([4, 400])
    with torch.no_grad():
        expected = model(x, t)
        got = model_cl(x.contiguous(memory_format=torch.channels_last), t)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_unet_rebuilds_from_json_config() -> None:
    model = small_unet()
    config = json.loads(json.dumps(model.config))  # tuples come back as lists, as from a run folder
    rebuilt = UNet(**config)
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.config == model.config


def test_unet_rejects_mismatched_t() -> None:
    with pytest.raises(ValueError, match="t of shape"):
        small_unet()(torch.randn(2, 1, 16, 16), torch.tensor([1]))


# --- MLP ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data_dim", "out_dim"), [(2, 2), (2, 4), (5, 5)])
def test_mlp_output_shape(data_dim: int, out_dim: int) -> None:
    model = MLPDenoiser(data_dim, out_dim, hidden=32, num_blocks=2, time_dim=16)
    assert model(torch.randn(7, data_dim), torch.randint(0, 1000, (7,))).shape == (7, out_dim)


def test_mlp_output_depends_on_t_and_gradients_reach_every_parameter() -> None:
    model = perturb_(MLPDenoiser(hidden=32, num_blocks=2, time_dim=16))
    x = torch.randn(1, 2).repeat(2, 1)
    out = model(x, torch.tensor([10, 900]))
    assert not torch.allclose(out[0], out[1], atol=1e-4)
    out.square().mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, f"no gradient reached: {missing}"


def test_mlp_rebuilds_from_config() -> None:
    """The config alone rebuilds the same network: the weights load and the output is the original's."""
    model = MLPDenoiser(hidden=32, num_blocks=2, time_dim=16)
    with torch.no_grad():
        for param in model.parameters():  # away from the init, so a rebuilt net that ignored the load would differ
            param.add_(0.1 * torch.randn_like(param))
    rebuilt = MLPDenoiser(**json.loads(json.dumps(model.config)))
    rebuilt.load_state_dict(model.state_dict())
    x, t = torch.randn(5, 2), torch.tensor([0, 3, 10, 99, 500])
    assert rebuilt.config == model.config
    torch.testing.assert_close(rebuilt(x, t), model(x, t), rtol=0, atol=0)


# --- presets ------------------------------------------------------------------------------------------------


def test_ddpm_cifar_preset_has_ho_et_al_parameter_count() -> None:
    n = count_parameters(build_model("ddpm-cifar", (3, 32, 32)))
    print(f"ddpm-cifar at 32x32x3: {n} parameters ({format_parameter_count(n)})")
    assert abs(n - 35.7e6) <= 0.01 * 35.7e6


def test_required_presets_exist() -> None:
    assert {"tiny", "small", "base", "ddpm-cifar"} <= set(MODEL_PRESETS)


def test_tiny_preset_is_about_a_million_parameters() -> None:
    n = count_parameters(build_model("tiny", (1, 16, 16)))
    assert 0.5e6 <= n <= 1.5e6


@pytest.mark.parametrize("size", [16, 28, 32])
def test_preset_attention_lands_on_the_same_levels_for_any_size(size: int) -> None:
    model = build_model("tiny", (1, size, size))
    attention_levels = [
        level
        for level, blocks in enumerate(model.down_blocks)
        if any(isinstance(m, SelfAttention) for m in blocks.modules())
    ]
    assert attention_levels == [2]  # tiny: attention only at the lowest of its three levels


def test_build_model_images_learned_variance_doubles_channels() -> None:
    model = build_model("tiny", (1, 28, 28), learned_variance=True)
    assert isinstance(model, UNet)
    assert model(torch.randn(2, 1, 28, 28), torch.tensor([1, 2])).shape == (2, 2, 28, 28)


def test_build_model_points_learned_variance_doubles_features() -> None:
    model = build_model("tiny", (2,), learned_variance=True)
    assert isinstance(model, MLPDenoiser)
    assert model(torch.randn(5, 2), torch.tensor([1, 2, 3, 4, 5])).shape == (5, 4)


def test_build_model_dropout_override() -> None:
    assert build_model("tiny", (2,), dropout=0.3).config["dropout"] == 0.3
    assert build_model("tiny", (1, 8, 8), dropout=0.3).config["dropout"] == 0.3


def test_build_model_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ValueError, match="huge") as error:
        build_model("huge", (2,))
    for name in MODEL_PRESETS:
        assert name in str(error.value)


@pytest.mark.parametrize("bad_shape", [(2, 3), (1, 2, 3, 4), (), (0,), (1, -4, 4), ("a",)])
def test_build_model_bad_shape_says_what_was_expected(bad_shape: tuple) -> None:
    with pytest.raises(ValueError, match=r"\(C, H, W\)") as error:
        build_model("tiny", bad_shape)
    assert str(bad_shape) in str(error.value)


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0"), (850, "850"), (850_000, "850K"), (1_020_000, "1.02M"), (35_746_307, "35.7M"), (999_999, "1M")],
)
def test_format_parameter_count(n: int, text: str) -> None:
    assert format_parameter_count(n) == text


def test_count_parameters_counts_every_scalar() -> None:
    assert count_parameters(torch.nn.Linear(3, 4)) == 3 * 4 + 4
