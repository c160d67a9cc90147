"""Raw readers of the user's array files: .npy / .npz (never unpickled), .csv of points, IDX (MNIST, gzip or not).

Each returns the file's own array; turning it into model space and validating it is the job of
:mod:`ddpm_studio.core.data.dataset`. Problems raise ``ValueError`` whose message starts with the file name and fits
on one line, so :func:`~ddpm_studio.core.data.dataset.load_dataset` can pass it on unchanged as a ``DataError``.
"""

from __future__ import annotations

import gzip
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

_NPZ_PREFERRED_KEYS = ("images", "x", "data")
# What each array format starts with. Without its header numpy.load falls back to unpickling (refused here with
# allow_pickle=False) and its error suggests allow_pickle: a file that does not start this way is not one.
_MAGIC = {".npy": (b"\x93NUMPY",), ".npz": (b"PK\x03\x04", b"PK\x05\x06")}
_EXPECTED = {".npy": "an array saved with numpy.save", ".npz": "a zip of arrays saved with numpy.savez"}


def _parse_points_csv(path: Path) -> np.ndarray:
    """Parse a CSV of numbers into float64 (N, K).

    Fields may be separated by commas, semicolons, tabs or spaces; blank lines and lines starting with '#' are
    ignored, and a first line with no numeric field is taken as a header. Any other non-numeric field is an
    error that names its line, because silently dropping a row would change the data set.
    """
    rows: list[list[float]] = []
    width: int | None = None
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig drops the BOM that spreadsheet exports add
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path.name}: not a text file ({exc.reason} at byte {exc.start})") from exc
    first_content_line = True
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        separator = next((s for s in (",", ";", "\t") if s in line), None)
        fields = [f.strip() for f in line.split(separator)]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            if first_content_line and not any(_is_number(f) for f in fields):
                first_content_line = False
                continue
            raise ValueError(f"{path.name}: line {number} is not numeric ({line[:40]!r})") from None
        first_content_line = False
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise ValueError(
                f"{path.name}: line {number} has {len(values)} values, earlier lines have {width}"
            )
        rows.append(values)
    if not rows:
        return np.empty((0, width or 0))
    return np.array(rows, dtype=np.float64)


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def load_array_file(path: str | os.PathLike[str], key: str | None = None) -> np.ndarray:
    """Read the raw array stored in a .npy, .npz or .csv file.

    .npy: the array (pickled object arrays are refused: loading a pickle can run arbitrary code; so is a file
    without NumPy's header, which numpy.load would try to unpickle).
    .npz: the array named ``key`` when given (a file without it is refused), else the one named "images", "x" or
    "data" (first found, in that order), else the first array.
    .csv: numbers as float64 (N, K), see ``_parse_points_csv``.

    Returns:
        The array exactly as stored (any dtype and shape); the caller validates it.

    Raises:
        ValueError: unsupported extension, or a file that cannot be parsed.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix == ".csv":
        return _parse_points_csv(file)
    if suffix not in (".npy", ".npz"):
        raise ValueError(f"{file.name}: unsupported file type {suffix!r}; expected .npy, .npz or .csv")
    with open(file, "rb") as handle:
        head = handle.read(6)
    if not head.startswith(_MAGIC[suffix]):
        raise ValueError(f"{file.name}: not a valid {suffix} array file (expected {_EXPECTED[suffix]}; "
                         f"{'the file is empty' if not head else 'the header is missing'})")
    try:
        if suffix == ".npy":
            return np.load(file, allow_pickle=False)
        with np.load(file, allow_pickle=False) as archive:
            if not archive.files:
                raise ValueError(f"{file.name}: the archive holds no arrays")
            if key is not None and key not in archive.files:
                raise ValueError(f"{file.name}: the archive holds no {key!r} array (it holds "
                                 f"{', '.join(repr(k) for k in archive.files)})")
            key = key or next((k for k in _NPZ_PREFERRED_KEYS if k in archive.files), archive.files[0])
            array = archive[key]
        if not isinstance(array, np.ndarray):  # numpy hands back the raw bytes of a member that is no array
            raise ValueError(f"{file.name}: not a valid .npz array file (its member {key!r} is not a NumPy array)")
        return array
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{file.name}: the .npz archive is damaged or truncated ({exc})") from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{file.name}: cannot read as {suffix} ({' '.join(str(exc).split())})") from exc
    except ValueError as exc:
        if str(exc).startswith(file.name):
            raise
        if "allow_pickle" in str(exc) or "pickled" in str(exc):
            # an object array: its items would be unpickled, which can run code from the file
            raise ValueError(f"{file.name}: holds Python objects, not numbers; DDPM Studio never unpickles data "
                             "files (that can run code): save a numeric array") from exc
        raise ValueError(f"{file.name}: cannot read as {suffix} ({' '.join(str(exc).split())})") from exc


# IDX type codes (http://yann.lecun.com/exdb/mnist/): every multi-byte value is big-endian.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def load_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not (detected from the content, not the name).

    Layout: two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), the number of dimensions, then each dimension as a big-endian uint32, then the data.

    Returns:
        The array with the stored shape (e.g. (N, 28, 28) uint8 for MNIST images, (N,) for labels) in native
        byte order.

    Raises:
        ValueError: bad magic number, unknown type code, or a data length that disagrees with the header.
    """
    file = Path(path)
    raw = file.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{file.name}: corrupt gzip data ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise ValueError(f"{file.name}: not an IDX file (magic number {raw[:4].hex() or 'missing'})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header_bytes = 4 + 4 * ndim
    if len(raw) < header_bytes:
        raise ValueError(f"{file.name}: IDX header is truncated ({len(raw)} bytes, need {header_bytes})")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(dims) * dtype.itemsize
    if len(raw) - header_bytes != expected:
        raise ValueError(
            f"{file.name}: IDX header promises shape {dims} ({expected} data bytes) but the file holds "
            f"{len(raw) - header_bytes}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_bytes).reshape(dims)
    return data.astype(dtype.newbyteorder("="))
