"""The studio opens a diffusers model folder (File → Open) and samples it; the Setup panel's TensorBoard option."""

from __future__ import annotations

import pytest
from gui_helpers import TIMEOUT_MS, sample_and_wait

diffusers = pytest.importorskip("diffusers")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def test_file_open_accepts_a_diffusers_folder_and_samples_it(qtbot, window, messages, tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    unet = diffusers.UNet2DModel(
        sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=4)
    folder = tmp_path / "ddpm-tiny"
    diffusers.DDPMPipeline(unet=unet, scheduler=diffusers.DDPMScheduler(num_train_timesteps=20)) \
        .save_pretrained(folder)
    window.open_run(str(folder))
    qtbot.waitUntil(lambda: window.session.has_model and not window.jobs.busy, timeout=TIMEOUT_MS)
    assert messages == []
    assert window.session.pipeline.kind == "images" and window.session.pipeline.data_shape == (1, 8, 8)
    assert window.setup.num_timesteps() == 20
    sample_and_wait(qtbot, window, steps=10, count=4)
    assert window.session.samples is not None and window.session.samples.kind == "images"
    assert window.store is not None and len(window.store) == 11  # x_T and one frame per network evaluation


def test_a_diffusers_folder_that_does_not_map_gets_one_message(qtbot, window, messages, tmp_path):
    (tmp_path / "model_index.json").write_text('{"_class_name": "LDMPipeline", "vqvae": ["diffusers", "VQModel"]}')
    window.open_run(str(tmp_path))
    qtbot.waitUntil(lambda: len(messages) == 1, timeout=TIMEOUT_MS)
    assert "latent-diffusion" in messages[0] and not window.session.has_model


def test_setup_tensorboard_option_reaches_the_config(window):
    check = window.setup.tensorboardCheck
    assert check.objectName() == "tensorboardCheck" and not window.setup.config().train.tensorboard
    check.setChecked(True)
    assert window.setup.config().train.tensorboard
