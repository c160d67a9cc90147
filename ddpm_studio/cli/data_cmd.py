"""``ddpm-studio data``: the standard data sets (``--list``: names, sizes, cached or not; ``--download NAME``).

The parser reads the names from the ground floor's catalog, so ``data --help`` imports nothing heavy; the table of
files and sizes (:mod:`ddpm_studio.core.data.remote`) is read only when the command runs.
"""

from __future__ import annotations

import argparse
import sys

from ddpm_studio.core.catalog import REMOTE_DATASETS


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``data`` to the ``ddpm-studio`` subparsers (made with ``parser_class=_Parser``)."""
    data = sub.add_parser(
        "data",
        help="list or download the standard data sets (mnist, fashion-mnist, cifar10)",
        description="The standard data sets that --data takes by name are downloaded on first use into the "
        "cache ($DDPM_STUDIO_CACHE, default the platform's user cache folder) and checked against SHA-256 "
        "checksums pinned in DDPM Studio. $DDPM_STUDIO_DATA_MIRROR points the downloads at another base URL "
        "(https://, http:// or file://) holding NAME/FILE for each set. Without internet, place the official "
        "files in CACHE/data/NAME.",
    )
    action = data.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true", help="show each set's size, splits and whether it is cached")
    action.add_argument("--download", metavar="NAME", nargs="+", choices=REMOTE_DATASETS,
                        help=f"fetch these sets now (e.g. on a login node with internet): {', '.join(REMOTE_DATASETS)}")


def run(args: argparse.Namespace) -> int:
    """Print the table, or fetch the named sets (one line each on stderr)."""
    from ddpm_studio.core.data.cache import cache_root, dataset_folder
    from ddpm_studio.core.data.remote import REMOTE_SETS, mirror, total_size
    from ddpm_studio.core.data.standard import cache_status, ensure_files

    if args.list:
        for name, remote in REMOTE_SETS.items():
            channels, height, width = remote.shape
            train, test = remote.split_sizes
            print(f"{name:<14} {remote.title:<14} {channels}x{height}x{width}  {train:,} train / {test:,} test  "
                  f"{total_size(name) / 1e6:6.1f} MB  {cache_status(name)}")
        print(f"cache: {cache_root() / 'data'}" + (f"  (mirror: {mirror()})" if mirror() else ""))
        return 0
    for name in args.download:
        ensure_files(name)
        print(f"{name}: cached and verified in {dataset_folder(name)}", file=sys.stderr)
    return 0
