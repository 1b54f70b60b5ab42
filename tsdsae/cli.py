"""The ``tsdsae`` command: thin argument parsing over the library.

Every subcommand maps onto one library call; a :class:`~tsdsae.errors.TsdsaeError`
is printed as a single ``tsdsae: error: …`` line with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .config import PRECISIONS, PRESETS, load_preset
from .errors import TsdsaeError


def _synth(args: argparse.Namespace) -> None:
    from .data import build_dataset

    cfg = load_preset(args.preset, quick=True if args.quick else None).override(
        {"data": {"soundfont": args.soundfont, "n_melodies": args.n_melodies, "instruments": args.instruments}})
    ds = build_dataset(cfg.data, cfg.features, cache_dir=args.cache_dir, workers=args.workers,
                       rebuild=args.rebuild, progress=not args.no_progress)
    m = ds.manifest
    print(json.dumps({"path": str(ds.path), "counts": m["counts"], "soundfont": m["soundfont"],
                      "build_s": m["build"]["total_s"]}, indent=2))


def _urmp_prepare(args: argparse.Namespace) -> None:
    from .config import UrmpConfig
    from .data.urmp import prepare_urmp

    cfg = UrmpConfig(seed=args.seed)
    if args.instruments:
        cfg.instruments = args.instruments
    if args.crepe_model:
        cfg.crepe_model = args.crepe_model
    if args.min_confidence is not None:
        cfg.min_confidence = args.min_confidence
    ds = prepare_urmp(args.path, cfg, out=args.out, cache_dir=args.cache_dir, rebuild=args.rebuild,
                      progress=not args.no_progress)
    print(json.dumps({"path": str(ds.path), "counts": ds.manifest["counts"],
                      "per_instrument": ds.manifest["urmp"]["per_instrument"],
                      "build_s": ds.manifest["build"]["total_s"]}, indent=2))


def _train(args: argparse.Namespace) -> None:
    from .evaluation.swap import track_swap_f1
    from .runs import run_name
    from .training import train

    cfg = load_preset(args.preset, quick=True if args.quick else None)
    if args.data:
        from .data import load_dataset

        manifest = load_dataset(args.data).manifest["data"]
        cfg.data.path, cfg.data.name, cfg.data.instruments = args.data, manifest["name"], manifest["instruments"]
    cfg = cfg.override({
        "train": {"method": args.method, "seed": args.seed, "stage1_epochs": args.stage1_epochs,
                  "max_epochs": args.max_epochs, "patience": args.patience, "reshuffle": args.reshuffle or None,
                  "stage1_zero_z": args.stage1_zero_z or None, "precision": args.precision},
        "model": {"z_dim": args.z_dim, "encoder": args.encoder, "decoder": args.decoder},
        "data": {"soundfont": args.soundfont},
    })
    run_dir = args.run_dir or f"runs/{cfg.preset}{'-quick' if cfg.quick else ''}/{run_name(cfg)}"
    res = train(cfg, run_dir, device=args.device, progress=not args.no_progress, stop_after=args.stop_after,
                track_every=args.track_swap_every, trackers={"swap_f1": track_swap_f1(cfg.eval.seed)})
    print(json.dumps({"run_dir": str(res.run_dir)} | res.outcome(), indent=2))


def _evaluate(args: argparse.Namespace) -> None:
    from .evaluation.suite import PARTS, evaluate_run
    from .plotting import save_evaluation_figure
    from .runs import run_config

    ev = run_config(args.run_dir).eval
    for name in ("crepe_model", "n_pitch_clips", "n_fad_clips", "seed"):
        if getattr(args, name) is not None:
            setattr(ev, name, getattr(args, name))
    res = evaluate_run(args.run_dir, ev, progress=not args.no_progress, only=args.only)
    save_evaluation_figure(args.run_dir, res)
    print(json.dumps({k: res[k] for k in (*PARTS, "seconds", "seconds_again") if k in res}, indent=2))


def _probe(args: argparse.Namespace) -> None:
    from tqdm.auto import tqdm

    from .evaluation.probing import probe_run
    from .tables import probing_table

    rows = []
    for run_dir in tqdm(args.run_dirs, desc="probe", disable=args.no_progress):
        out = probe_run(run_dir)
        rows.append({"method": out["method"], "z_dim": out["z_dim"], "probing": out["factors"]})
    print(probing_table(rows))


def _sweep(args: argparse.Namespace) -> None:
    from .sweep import STATES, Sweep, run_sweep, sweep_status
    from .tables import status_line, status_table

    sweep = Sweep.from_file(args.config)
    if args.status:
        rows = sweep_status(sweep)
        present = {r["state"] for r in rows}
        legend = "; ".join(f"{state}: {what}" for state, what in STATES.items() if state in present)
        print(f"{status_table(rows)}\n\n{status_line(rows, STATES)}\n({legend})")
        return
    if args.quick:
        sweep.quick = True
    if args.no_evaluate:
        sweep.evaluate = False
    results = run_sweep(sweep, executor=args.executor, workers=args.workers, address=args.address,
                        progress=not args.no_progress, only=args.only, threads=args.threads)
    busy = [r["busy"] for r in results if "busy" in r]
    print(json.dumps({"out": sweep.out, "runs_run": len(results) - len(busy), "left_to_other_processes": busy},
                     indent=2))


def _report(args: argparse.Namespace) -> None:
    from .results import report

    print(report(args.results_dir))


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

    t = sub.add_parser("train", help="train one model into a run folder (resumes if it exists)")
    t.add_argument("--method", help="dsae, dsae-f, ts-dsae-noreg or ts-dsae (default: the preset's)")
    t.add_argument("--z-dim", type=int, help="size of the local latent z_t")
    t.add_argument("--encoder", help="local encoder: factorised or full")
    t.add_argument("--decoder", help="decoder: framewise or enriched")
    t.add_argument("--preset", default="cpu", help=f"one of {', '.join(PRESETS)} (default cpu)")
    t.add_argument("--quick", action="store_true", help="quick mode (as TSDSAE_QUICK=1)")
    t.add_argument("--seed", type=int)
    t.add_argument("--stage1-epochs", type=int, help="C, the length of stage 1")
    t.add_argument("--max-epochs", type=int)
    t.add_argument("--patience", type=int)
    t.add_argument("--reshuffle", action="store_true", help="new batch order every epoch")
    t.add_argument("--stage1-zero-z", action="store_true", help="feed z = 0 to the decoder in stage 1")
    t.add_argument("--precision", choices=PRECISIONS,
                   help="fp32 (the paper's maths, default) or bf16 autocast (faster on CPUs with AVX-512 BF16, "
                        "far slower without)")
    t.add_argument("--soundfont", help="soundfont for the data (default: discovered)")
    t.add_argument("--data", help="a prepared dataset folder (e.g. from 'tsdsae urmp-prepare') instead of dMelodies")
    t.add_argument("--run-dir", help="run folder (default runs/<preset>/<method>-z<z>-…-seed<seed>)")
    t.add_argument("--device", help="auto (default: CUDA if present), cpu, cuda, cuda:N")
    t.add_argument("--stop-after", type=int, help="stop after this many epochs in total (resume later)")
    t.add_argument("--track-swap-every", type=int, default=0, metavar="N",
                   help="log the swap F1 every N epochs in metrics.jsonl (default: off)")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=_train)

    u = sub.add_parser("urmp-prepare",
                       help="URMP violin/trumpet tracks -> a dataset of 4-s clips (protocol §1.4, book/protocol.md)")
    u.add_argument("path", help="your copy of URMP (the folder holding the piece folders)")
    u.add_argument("--instruments", nargs="+", help="URMP instrument codes (default: vn tpt)")
    u.add_argument("--crepe-model", choices=("tiny", "full"), help="CREPE model of the confidence filter "
                   "(default full, as the paper)")
    u.add_argument("--min-confidence", type=float, help="keep segments above this mean confidence (default 0.85)")
    u.add_argument("--seed", type=int, default=0, help="seed of the 80/10/10 split")
    u.add_argument("--out", help="dataset folder (default: <cache>/datasets/urmp-<key>)")
    u.add_argument("--cache-dir", help="dataset cache root (default $TSDSAE_CACHE or ~/.cache/tsdsae)")
    u.add_argument("--rebuild", action="store_true", help="ignore a prepared copy")
    u.add_argument("--no-progress", action="store_true")
    u.set_defaults(func=_urmp_prepare)

    e = sub.add_parser("evaluate", help="every metric of a run folder: evaluation.json and figures")
    e.add_argument("run_dir", help="a run folder written by 'tsdsae train'")
    e.add_argument("--crepe-model", choices=("tiny", "full"), help="CREPE model of the pitch evaluation")
    e.add_argument("--n-pitch-clips", type=int, help="validation clips in the pitch evaluation")
    e.add_argument("--n-fad-clips", type=int, help="validation clips in the FAD")
    e.add_argument("--seed", type=int)
    e.add_argument("--only", nargs="+", metavar="PART",
                   help="measure these parts again (swap_f1, regularisers, rpa, fad) and keep the others of "
                        "evaluation.json (same settings)")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=_evaluate)

    b = sub.add_parser("probe", help="linear probes of the known factors from v and z: probing.json")
    b.add_argument("run_dirs", nargs="+", help="run folders written by 'tsdsae train'")
    b.add_argument("--no-progress", action="store_true")
    b.set_defaults(func=_probe)

    w = sub.add_parser("sweep", help="train (and evaluate) a grid of runs; finished runs are skipped")
    w.add_argument("config", help="a sweep file (YAML), e.g. results/cpu/sweep.yaml")
    w.add_argument("--executor", default="local", choices=("local", "ray"),
                   help="local processes (default) or a Ray cluster")
    w.add_argument("--workers", type=int, help="local processes (default: one per core, or cores / --threads)")
    w.add_argument("--threads", type=int, default=1,
                   help="torch threads per run (default 1; benchmarks/README.md: when two pay)")
    w.add_argument("--address", help="Ray cluster address (default: start a local Ray instance)")
    w.add_argument("--quick", action="store_true", help="quick mode (as TSDSAE_QUICK=1)")
    w.add_argument("--no-evaluate", action="store_true", help="train only")
    w.add_argument("--only", nargs="+", metavar="PATTERN",
                   help="run only the points whose run names match (shell-style, e.g. 'ts-dsae-z16-*')")
    w.add_argument("--status", action="store_true",
                   help="print where each run stands and the training left; train nothing")
    w.add_argument("--no-progress", action="store_true")
    w.set_defaults(func=_sweep)

    r = sub.add_parser("report", help="tables and figures (Fig. 3, Fig. 4) of a folder of evaluated runs")
    r.add_argument("results_dir", help="e.g. results/cpu")
    r.set_defaults(func=_report)
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
