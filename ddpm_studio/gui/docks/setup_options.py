"""What the Setup dock offers and how it lays out: the data file filter, the choices' labels (read from
:mod:`ddpm_studio.core.choices`), the studio's preview defaults per data kind and the form's scroll area."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QFormLayout, QScrollArea, QWidget

from ddpm_studio.core import choices
from ddpm_studio.core.config import RunConfig, default_config
from ddpm_studio.core.data import BUILTIN_DATASETS

OPEN_DATA_TEXT = "Open folder/file…"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
DATA_FILTER = (
    "Data: arrays, IDX files, or any image of an image folder "
    "(*.npy *.npz *.csv *ubyte* *.idx *.gz *.png *.jpg *.jpeg *.bmp *.gif *.webp);;All files (*)"
)


#: The Setup dock is never narrower than its form, up to this width: beyond it (the presentation look's larger
#: text on a small screen) the form scrolls sideways rather than pushing the plots off the screen.
MAX_FORM_MIN_WIDTH = 400


def wrap_form_rows(body: QWidget) -> None:
    """Every form under ``body`` puts a field under its label when the dock is too narrow for both on one line.

    The combos keep their full width (the longest entry, "hybrid: L_simple + 0.001 L_vlb", whole), so the form
    is 340 pixels wide on one line but only as wide as its widest field (about 250) with the fields under their
    labels: room for the plots beside it on a 1024-pixel projector, and no setting ever cut off.
    """
    for form in body.findChildren(QFormLayout):
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)


class _FormScroll(QScrollArea):
    """A vertical scroll area as wide as its form needs, so no field is ever cut at the dock's edge."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        hint = super().minimumSizeHint()
        body = self.widget()
        if body is None:
            return hint
        width = body.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()
        return QSize(min(width, MAX_FORM_MIN_WIDTH), hint.height())


@dataclass(frozen=True)
class Parameterization:
    """One entry of the parameterization combo: its label, the core's name, and the variance it implies."""

    label: str
    name: str  # eps, mean, x0 or v
    variance: str | None  # "fixed" or "learned" when the label promises one; None: any
    tooltip: str


# the labels and help are the core's vocabulary (ddpm_studio.core.choices), shared with the CLI and the compare dialog
PARAMETERIZATIONS: tuple[Parameterization, ...] = tuple(
    Parameterization(option.label, option.name, option.variance, option.help)
    for option in choices.PARAMETERIZATION_OPTIONS
)
VARIANCES: tuple[tuple[str, str], ...] = tuple((option.label, option.name) for option in choices.VARIANCES)
LOSSES: tuple[tuple[str, str], ...] = tuple((option.label, option.name) for option in choices.LOSSES)
SCHEDULES: tuple[tuple[str, str], ...] = tuple((option.label, option.name) for option in choices.SCHEDULES)

# What the studio changes from the core's defaults when the data kind changes: previews of 2-D points need
# more than 16 dots to show a shape. Measured on one CPU thread, a 50-step preview of 256 points every 500
# steps costs moons ~2.6% of its training time, and 16 digits every 500 steps ~1.2%.
GUI_DEFAULTS = {
    "points": {"preview_every": 500, "preview_count": 256},
    "images": {"preview_every": 500, "preview_count": 16},
}


def kind_defaults(spec: str, kind: str) -> RunConfig:
    """The core's good defaults for this kind of data, with the studio's preview settings."""
    config = default_config(spec, kind)
    for key, value in GUI_DEFAULTS[kind].items():
        setattr(config.train, key, value)
    return config


def remote_tooltip(name: str) -> str:
    """The Setup list's tooltip of a standard set: its official split, and what the first use downloads."""
    from ddpm_studio.core.data.cache import dataset_folder
    from ddpm_studio.core.data.remote import REMOTE_SETS, total_size

    remote = REMOTE_SETS[name]
    train, test = remote.split_sizes
    return (f"{remote.title}: {train:,} training and {test:,} test images (held out), with labels. Downloaded on "
            f"first use ({total_size(name) / 1e6:.1f} MB) into {dataset_folder(name)} and checked against its "
            "SHA-256; offline, set DDPM_STUDIO_DATA_MIRROR or place the official files there.")


def data_kind(spec: str) -> str | None:
    """"points" / "images" for a built-in name; None for a path (known only once it is loaded)."""
    return BUILTIN_DATASETS.get(spec)

CONDITIONAL_TOOLTIP = (
    "Train a class-conditional model (M34): the class goes in beside t, and 10 % of labels are dropped so the one "
    "network also learns the unconditional model that classifier-free guidance needs."
)
