"""``tsdsae sweep``: a tiny grid on local processes and on a local Ray instance; skip and resume."""

import io
import json
import os
import subprocess

import numpy as np
import pytest
import yaml
from tqdm.auto import tqdm

from tsdsae.cli import main
from tsdsae.config import DECODERS, ENCODERS, METHODS, Config
from tsdsae.errors import TsdsaeError
from tsdsae.evaluation.swap import track_swap_f1
from tsdsae.runs import parse_run_name, read_metrics, run_name
from tsdsae.sweep import STATES, Sweep, count_on_bar, run_sweep, sweep_status
from tsdsae.tables import status_line
from tsdsae.training import train


def _sweep_file(tmp_path, small_dataset, **extra):
    spec = {
        "preset": "cpu", "quick": False, "methods": ["dsae", "ts-dsae"], "z_dims": [4], "seeds": [0],
        "out": "runs", "track_swap_every": 1, "evaluate": False,
        "cache_dir": str(small_dataset.path.parents[1]),
        "overrides": {"data": {"name": "test-small", "n_melodies": 24},
                      "train": {"stage1_epochs": 1, "max_epochs": 2, "patience": 2, "batch_size": 8}},
    } | extra
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_the_grid_expands_to_validated_configs(tmp_path, small_dataset):
    sweep = Sweep.from_file(_sweep_file(tmp_path, small_dataset, z_dims=[4, 8], seeds=[0, 1]))
    points = list(sweep.configs())
    assert len(points) == 2 * 2 * 2 == sweep.n_runs
    assert len({d for _, d in points}) == 8 and all(d.parent == tmp_path / "runs" for _, d in points)
    assert {(c.train.method, c.model.z_dim, c.train.seed) for c, _ in points} == {
        (m, z, s) for m in ("dsae", "ts-dsae") for z in (4, 8) for s in (0, 1)}
    assert all(c.train.max_epochs == 2 and c.data.n_melodies == 24 for c, _ in points)


def test_run_names_parse_back_to_what_named_them():
    for method, encoder, decoder in ((m, e, d) for m in METHODS for e in ENCODERS for d in DECODERS):
        cfg = Config.from_dict({"train": {"method": method, "seed": 12}, "model": {"z_dim": 64, "encoder": encoder,
                                                                                   "decoder": decoder}})
        assert parse_run_name(run_name(cfg)) == {"method": method, "z_dim": 64, "encoder": encoder,
                                                 "decoder": decoder, "seed": 12}
    for other in ("ts-dsae", "ts-dsae-z16-factorised-framewise", "vae-z16-factorised-framewise-seed0",
                  "ts-dsae-z16-factorised-framewise-seed0-old", "ts-dsae-zx-full-framewise-seed0"):
        assert parse_run_name(other) is None


def test_local_sweep_runs_resumes_and_skips(tmp_path, small_dataset, capsys):
    path = _sweep_file(tmp_path, small_dataset)
    sweep = Sweep.from_file(path)
    (cfg_ts, dir_ts), = [(c, d) for c, d in sweep.configs() if c.train.method == "ts-dsae"]
    train(cfg_ts, dir_ts, small_dataset, progress=False, stop_after=1, track_every=1,
          trackers={"swap_f1": track_swap_f1()})  # killed after 1 epoch
    assert main(["sweep", str(path), "--workers", "2", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["runs_run"] == 2
    for _, d in sweep.configs():
        result = json.loads((d / "result.json").read_text())
        assert result["epochs"] == 2
        assert all("swap_f1" in m for m in read_metrics(d))
    assert [m["epoch"] for m in read_metrics(dir_ts)] == [0, 1]  # resumed, not restarted
    assert run_sweep(sweep, progress=False) == []                 # everything finished: skipped
    assert "2 of 2 runs done; nothing left to train;" in status_line(sweep_status(sweep), STATES)


def test_only_runs_the_points_it_names_with_the_threads_asked_for(tmp_path, small_dataset, capsys):
    path = _sweep_file(tmp_path, small_dataset)
    assert main(["sweep", str(path), "--threads", "2", "--no-progress", "--only", "ts-dsae-*"]) == 0
    assert json.loads(capsys.readouterr().out)["runs_run"] == 1
    trained = {d.name: d for _, d in Sweep.from_file(path).configs() if (d / "result.json").is_file()}
    assert list(trained) == ["ts-dsae-z4-factorised-framewise-seed0"]
    assert json.loads((trained["ts-dsae-z4-factorised-framewise-seed0"] / "result.json").read_text())[
        "torch_threads"] == 2
    assert main(["sweep", str(path), "--no-progress", "--only", "ts-dsae-*", "vae-*"]) == 2
    err = capsys.readouterr().err
    assert "--only 'vae-*' matches no run" in err and len(err.strip().splitlines()) == 1


def test_a_run_another_process_holds_is_left_to_it(tmp_path, small_dataset, capsys):
    path = _sweep_file(tmp_path, small_dataset)
    (_, held), = [(c, d) for c, d in Sweep.from_file(path).configs() if c.train.method == "dsae"]
    held.mkdir(parents=True)
    other = subprocess.Popen(["sleep", "60"])  # a living process that holds the folder, as a second sweep would
    try:
        (held / ".lock").write_text(str(other.pid))
        assert main(["sweep", str(path), "--workers", "1", "--no-progress"]) == 0
    finally:
        other.kill()
        other.wait()
    out = json.loads(capsys.readouterr().out)
    assert out["runs_run"] == 1 and len(out["left_to_other_processes"]) == 1
    assert f"being trained by process {other.pid}" in out["left_to_other_processes"][0]
    assert not (held / "result.json").exists()
    assert main(["sweep", str(path), "--workers", "1", "--no-progress"]) == 0  # its holder is gone: taken over
    assert json.loads(capsys.readouterr().out)["runs_run"] == 1 and (held / "result.json").is_file()


def test_the_bar_counts_finished_runs_not_those_left_to_others():
    out = io.StringIO()
    bar = tqdm(total=3, initial=1, file=out, desc="sweep")
    count_on_bar(bar, {"run_dir": "a", "epochs": 2})
    count_on_bar(bar, {"run_dir": "b", "busy": "b is being trained by process 7"})
    assert (bar.n, bar.total) == (2, 2)
    bar.close()
    assert "2/2" in out.getvalue()


def test_ray_sweep_on_a_local_instance(tmp_path, small_dataset, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # no report to a network this machine cannot reach
    sweep = Sweep.from_file(_sweep_file(tmp_path, small_dataset, methods=["dsae-f"]))
    results = run_sweep(sweep, executor="ray", progress=False)
    assert len(results) == 1 and results[0]["epochs"] == 2 and results[0]["train_cpu_seconds"] > 0
    (cfg, d), = sweep.configs()
    assert Config.from_dict(json.loads((d / "config.json").read_text())).train.method == "dsae-f"


def test_status_reads_every_state_from_the_folders(tmp_path, small_dataset, capsys):
    path = _sweep_file(tmp_path, small_dataset, methods=["dsae", "ts-dsae"], seeds=[0, 1, 2])
    sweep = Sweep.from_file(path)
    dirs = {(c.train.method, c.train.seed): (c, d) for c, d in sweep.configs()}
    assert {r["state"] for r in sweep_status(sweep)} == {"waiting"}
    assert all(r["left_seconds"] is None for r in sweep_status(sweep))  # nothing timed yet
    assert "; training left not estimated: 6 run(s) of a method or stage not timed yet;" in status_line(
        sweep_status(sweep), STATES)
    for key, stop in [(("dsae", 0), None), (("ts-dsae", 0), 1), (("ts-dsae", 1), 1), (("ts-dsae", 2), 1)]:
        train(*dirs[key], small_dataset, progress=False, stop_after=stop)
    (dirs["ts-dsae", 1][1] / "last.pt").unlink()                   # a machine that lost its last.pt
    (dirs["ts-dsae", 2][1] / ".lock").write_text(str(os.getpid()))  # a living process holds it
    with open(dirs["ts-dsae", 0][1] / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 1, "sta')                                # a line being written
    rows = {r["run"]: r for r in sweep_status(sweep)}
    state = {key: rows[d.name] for key, (_, d) in dirs.items()}
    assert {key: r["state"] for key, r in state.items()} == {
        ("dsae", 0): "done", ("dsae", 1): "waiting", ("dsae", 2): "waiting",
        ("ts-dsae", 0): "stopped", ("ts-dsae", 1): "lost", ("ts-dsae", 2): "training"}
    assert set(STATES) >= {r["state"] for r in rows.values()}
    assert state["ts-dsae", 0]["epochs"] == 1 and state["ts-dsae", 0]["max_epochs"] == 2
    dsae_metrics = read_metrics(dirs["dsae", 0][1])
    dsae_epochs = [m["cpu_seconds"] for m in dsae_metrics]  # the estimates use processor time
    assert state["dsae", 1]["left_seconds"] == pytest.approx(2 * np.median(dsae_epochs))
    assert state["dsae", 0]["left_seconds"] == 0
    assert state["dsae", 0]["train_seconds"] == pytest.approx(sum(m["seconds"] for m in dsae_metrics))
    assert state["ts-dsae", 0]["left_seconds"] is None  # its stage 2 has not been timed in this sweep
    assert state["dsae", 0]["val_rec"] == read_metrics(dirs["dsae", 0][1])[-1]["val"]["rec"]
    assert main(["sweep", str(path), "--status"]) == 0
    out = capsys.readouterr().out
    assert "1 of 6 runs done, 1 training, 1 stopped, 1 lost, 2 waiting" in out and "| lost |" in out
    assert "; training left ≈ " in out and ", plus 3 run(s) of a method or stage not timed yet;" in out
    assert not (dirs["dsae", 1][1]).exists()  # --status trains nothing

    # epoch times from another CPU count only where this machine has none for that method and stage
    other = dirs["dsae", 2][1]
    other.mkdir()
    slow = [{**m, "cpu_seconds": 10 * m["cpu_seconds"]} for m in dsae_metrics]
    (other / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in slow))
    result = json.loads((dirs["dsae", 0][1] / "result.json").read_text())
    (other / "result.json").write_text(json.dumps({**result, "machine": "another CPU"}))
    left = {r["run"]: r["left_seconds"] for r in sweep_status(sweep)}
    assert left[dirs["dsae", 1][1].name] == pytest.approx(2 * np.median(dsae_epochs))
    (dirs["dsae", 0][1] / "result.json").write_text(json.dumps({**result, "machine": "a third CPU"}))
    left = {r["run"]: r["left_seconds"] for r in sweep_status(sweep)}
    pooled = dsae_epochs + [m["cpu_seconds"] for m in slow]
    assert left[dirs["dsae", 1][1].name] == pytest.approx(2 * np.median(pooled))


@pytest.mark.parametrize("extra, word", [
    ({"colour": "blue"}, "unknown key"),
    ({"overrides": {"train": {"speed": 2}}}, "train has no field 'speed'"),
    ({"overrides": {"optimiser": {"lr": 1}}}, "unknown part 'optimiser'"),
    ({"methods": ["vae"]}, "unknown method 'vae'"),
    ({"seeds": []}, "at least one value"),
])
def test_bad_sweep_files_are_one_line_errors(tmp_path, small_dataset, extra, word):
    with pytest.raises(TsdsaeError, match=word):
        list(Sweep.from_file(_sweep_file(tmp_path, small_dataset, **extra)).configs())


def test_missing_file_unknown_executor_and_no_threads(tmp_path, small_dataset):
    with pytest.raises(TsdsaeError, match="sweep file not found"):
        Sweep.from_file(tmp_path / "none.yaml")
    with pytest.raises(TsdsaeError, match="unknown executor"):
        run_sweep(Sweep.from_file(_sweep_file(tmp_path, small_dataset)), executor="slurm")
    with pytest.raises(TsdsaeError, match="--threads must be at least 1"):
        run_sweep(Sweep.from_file(_sweep_file(tmp_path, small_dataset)), threads=0)
