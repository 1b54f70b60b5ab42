"""``tsdsae sweep``: a tiny grid on local processes and on a local Ray instance; skip and resume."""

import json

import pytest
import yaml

from tsdsae.cli import main
from tsdsae.config import Config
from tsdsae.errors import TsdsaeError
from tsdsae.evaluation.swap import track_swap_f1
from tsdsae.runs import read_metrics
from tsdsae.sweep import Sweep, run_sweep
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
    assert len(points) == 2 * 2 * 2
    assert len({d for _, d in points}) == 8 and all(d.parent == tmp_path / "runs" for _, d in points)
    assert {(c.train.method, c.model.z_dim, c.train.seed) for c, _ in points} == {
        (m, z, s) for m in ("dsae", "ts-dsae") for z in (4, 8) for s in (0, 1)}
    assert all(c.train.max_epochs == 2 and c.data.n_melodies == 24 for c, _ in points)


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


def test_ray_sweep_on_a_local_instance(tmp_path, small_dataset, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # no report to a network this machine cannot reach
    sweep = Sweep.from_file(_sweep_file(tmp_path, small_dataset, methods=["dsae-f"]))
    results = run_sweep(sweep, executor="ray", progress=False)
    assert len(results) == 1 and results[0]["epochs"] == 2
    (cfg, d), = sweep.configs()
    assert Config.from_dict(json.loads((d / "config.json").read_text())).train.method == "dsae-f"


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


def test_missing_file_and_unknown_executor(tmp_path, small_dataset):
    with pytest.raises(TsdsaeError, match="sweep file not found"):
        Sweep.from_file(tmp_path / "none.yaml")
    with pytest.raises(TsdsaeError, match="unknown executor"):
        run_sweep(Sweep.from_file(_sweep_file(tmp_path, small_dataset)), executor="slurm")
