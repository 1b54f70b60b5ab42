"""The ``tsdsae`` command: thin argument parsing over the library.

Every subcommand maps onto one library call; a :class:`~tsdsae.errors.TsdsaeError`
is printed as a single ``tsdsae: error: …`` line with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .config import PRESETS, load_preset
from .errors import TsdsaeError


def _synth(args: argparse.Namespace) -> None:
    from .data import build_dataset

    cfg = load_preset(args.preset, quick=True if args.quick else None)
    if args.soundfont:
        cfg.data.soundfont = args.soundfont
    if args.n_melodies is not None:
        cfg.data.n_melodies = args.n_melodies
    if args.instruments:
        cfg.data.instruments = args.instruments
    cfg.validate()
    ds = build_dataset(cfg.data, cfg.features, cache_dir=args.cache_dir, workers=args.workers,
                       rebuild=args.rebuild, progress=not args.no_progress)
    m = ds.manifest
    print(json.dumps({"path": str(ds.path), "counts": m["counts"], "soundfont": m["soundfont"],
                      "build_s": m["build"]["total_s"]}, indent=2))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tsdsae`` command."""
    p = argparse.ArgumentParser(prog="tsdsae", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="render a dMelodies audio dataset (cached)")
    s.add_argument("--preset", default="paper", help=f"one of {', '.join(PRESETS)}")
    s.add_argument("--quick", action="store_true", help="quick mode (as TSDSAE_QUICK=1)")
    s.add_argument("--soundfont", help="soundfont file (default: discovered)")
    s.add_argument("--n-melodies", type=int, help="override the number of melodies")
    s.add_argument("--instruments", nargs="+", help="override the instruments, e.g. violin trumpet")
    s.add_argument("--cache-dir", help="dataset cache root (default $TSDSAE_CACHE or ~/.cache/tsdsae)")
    s.add_argument("--workers", type=int, help="rendering processes (default: every core)")
    s.add_argument("--rebuild", action="store_true", help="ignore a cached copy")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=_synth)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tsdsae`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except TsdsaeError as e:
        print(f"tsdsae: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tsdsae: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
