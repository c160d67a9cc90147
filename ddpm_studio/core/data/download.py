"""Download one file, resumably, and accept it only when its SHA-256 is the pinned one.

    fetch("https://.../train-images-idx3-ubyte.gz", cache / "train-images-idx3-ubyte.gz", Checksum(size, sha256))

The bytes go to ``NAME.part`` beside the target. An interrupted transfer leaves that partial file, and the next
call asks the server for the rest (an HTTP ``Range`` request; a server that ignores it sends the whole file again,
which then replaces the partial one). The partial file is renamed to ``NAME`` only once it has the pinned size
and SHA-256, so a file under its real name is always whole and verified; a failed check deletes the partial file.

``http://``, ``https://`` and ``file://`` URLs are read (a ``file://`` mirror is a folder on a shared disk).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

from .remote import Checksum

#: Bytes read and written per chunk (and per hashing step).
CHUNK = 1 << 20

#: Seconds a connection may stay silent before the download counts as failed.
TIMEOUT_S = 30.0


class TransferFailed(Exception):
    """The file could not be fetched; ``str()`` says why in a few words (the caller names the data set)."""


class ChecksumMismatch(Exception):
    """The fetched file is not the pinned one; the partial file was deleted."""

    def __init__(self, actual_sha256: str, actual_size: int) -> None:
        super().__init__(f"SHA-256 {actual_sha256[:12]}..., {actual_size} bytes")
        self.actual_sha256 = actual_sha256
        self.actual_size = actual_size


def partial_path(target: Path) -> Path:
    """Where the bytes of ``target`` collect until it is verified: ``NAME.part``."""
    return target.with_name(target.name + ".part")


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file, read in chunks (a 170 MB archive never sits in memory twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, target: Path, expected: Checksum, timeout: float = TIMEOUT_S) -> Path:
    """Download ``url`` into ``target`` (continuing ``NAME.part`` when there is one) and verify it.

    Returns:
        ``target``, whole and verified.

    Raises:
        TransferFailed: the source cannot be reached or read, or it ended early; bytes that did arrive stay in the
            partial file for the next call to continue from.
        ChecksumMismatch: the bytes are not the pinned file; the partial file is deleted.
    """
    part = partial_path(target)
    offset = part.stat().st_size if part.is_file() else 0
    if offset > expected.size:  # more bytes than the file has: not a prefix of it
        part.unlink()
        offset = 0
    if offset < expected.size:
        source, start = _open(url, offset, timeout)
        with source:
            _receive(source, part, start, expected.size)
    actual = sha256_of(part)
    if actual != expected.sha256 or part.stat().st_size != expected.size:
        size = part.stat().st_size
        part.unlink()
        raise ChecksumMismatch(actual, size)
    _publish(part, target)
    return target


def _open(url: str, offset: int, timeout: float) -> tuple[BinaryIO, int]:
    """A stream of ``url`` from byte ``offset`` where the source allows it: (stream, the byte it starts at)."""
    scheme = urlparse(url).scheme
    if scheme == "file":
        path = Path(urllib.request.url2pathname(urlparse(url).path))
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise TransferFailed(f"cannot read {path} ({exc.strerror or exc})") from None
        handle.seek(offset)
        return handle, offset
    if scheme not in ("http", "https"):
        raise TransferFailed(f"cannot download from {url!r}: only http://, https:// and file:// URLs are read")
    from ddpm_studio import __version__

    headers = {"User-Agent": f"ddpm-studio/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the server refuses the range: start again from the first byte
            return _open(url, 0, timeout)
        raise TransferFailed(f"the server answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise TransferFailed(_reason(exc.reason)) from None
    except (OSError, http.client.HTTPException) as exc:
        raise TransferFailed(_reason(exc)) from None
    # 206 with our first byte: the rest follows; anything else (200) is the whole file from byte 0
    content_range = response.headers.get("Content-Range", "")
    resumed = offset and response.status == 206 and content_range.startswith(f"bytes {offset}-")
    return response, offset if resumed else 0


def _receive(source: BinaryIO, part: Path, start: int, size: int) -> None:
    """Write ``source`` into ``part`` from byte ``start`` (appending, or afresh from 0), at most ``size`` bytes in
    all; a transfer that ends early keeps what arrived (an empty partial file is removed)."""
    written = start
    try:
        with open(part, "ab" if start else "wb") as sink:
            try:
                while written <= size and (block := source.read(CHUNK)):
                    sink.write(block)
                    written += len(block)
            finally:
                sink.flush()
                os.fsync(sink.fileno())
    except (OSError, http.client.HTTPException) as exc:
        if written == 0:
            part.unlink(missing_ok=True)
        raise TransferFailed(f"the transfer broke off after {written:,} of {size:,} bytes ({_reason(exc)})") from None
    if written == 0:
        part.unlink(missing_ok=True)
    if written < size:
        raise TransferFailed(f"the transfer ended after {written:,} of {size:,} bytes")


def _publish(part: Path, target: Path) -> None:
    """Rename the verified partial file to its real name, durably (the folder's entry is synced too)."""
    os.replace(part, target)
    try:
        descriptor = os.open(target.parent, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its rename is durable enough
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _reason(exc: object) -> str:
    """A network error in a few words: 'no network or unknown host', 'timed out', 'connection refused', ..."""
    if isinstance(exc, socket.gaierror):
        return "no network, or the host name is unknown"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "the connection timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__
