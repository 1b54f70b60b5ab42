"""Bad inputs and leftovers of failed runs: each gives one line naming the problem, and loses nothing."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tsdsae.cli import main
from tsdsae.config import Config, DataConfig, EvalConfig, FeatureConfig, ModelConfig, TrainConfig, UrmpConfig
from tsdsae.data import build_dataset
from tsdsae.data.dataset import load_dataset
from tsdsae.device import seeded
from tsdsae.errors import TsdsaeError
from tsdsae.runs import load_checkpoint, load_model, read_metrics
from tsdsae.sweep import Sweep
from tsdsae.training import train


def _cfg(method="ts-dsae", epochs=3, z_dim=4, seed=0):
    cfg = Config(preset="test")
    cfg.model = ModelConfig(z_dim=z_dim)
    cfg.train = TrainConfig(method=method, stage1_epochs=1, max_epochs=epochs, patience=epochs, batch_size=8, seed=seed)
    return cfg


def _one_line(capsys, argv, *words):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tsdsae: error:") and "\n" not in err, err
    for word in words:
        assert word in err, err


@pytest.mark.parametrize("make, word", [
    (lambda: EvalConfig(seed=-1), "eval: seed"),
    (lambda: TrainConfig(seed=2**64), "train: seed"),
    (lambda: TrainConfig(seed=1.5), "train: seed"),
    (lambda: UrmpConfig(seed=-1), "urmp: seed"),
])
def test_seeds_out_of_range_are_refused(make, word):
    with pytest.raises(TsdsaeError, match=word):
        make().validate()


def test_cli_refuses_bad_numbers_in_one_line(capsys, tmp_path):
    _one_line(capsys, ["train", "--quick", "--seed", str(2**64), "--run-dir", str(tmp_path / "r")], "seed")
    _one_line(capsys, ["train", "--quick", "--stop-after", "0", "--run-dir", str(tmp_path / "r")], "stop_after")
    _one_line(capsys, ["train", "--quick", "--track-swap-every", "-1", "--run-dir", str(tmp_path / "r")],
              "track-swap-every")
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_a_failed_start_never_blocks_the_corrected_command(small_dataset, tmp_path):
    # what an earlier version left after a failed start: config.json of other settings, nothing trained
    tmp_path.joinpath("config.json").write_text(json.dumps(_cfg(z_dim=8).to_dict()))
    train(_cfg(), tmp_path, small_dataset, progress=False)
    assert json.loads((tmp_path / "config.json").read_text())["model"]["z_dim"] == 4


def test_a_fresh_start_does_not_append_to_old_metrics(small_dataset, tmp_path):
    train(_cfg(), tmp_path, small_dataset, progress=False, stop_after=2)
    (tmp_path / "last.pt").unlink()  # the user starts over
    train(_cfg(), tmp_path, small_dataset, progress=False)
    assert [m["epoch"] for m in read_metrics(tmp_path)] == [0, 1, 2]


def test_a_committed_run_is_never_retrained(small_dataset, tmp_path):
    train(_cfg(), tmp_path, small_dataset, progress=False)
    (tmp_path / "last.pt").unlink()  # committed runs carry no last.pt
    before = (tmp_path / "metrics.jsonl").read_text()
    with pytest.raises(TsdsaeError, match="finished run without its last.pt"):
        train(_cfg(), tmp_path, small_dataset, progress=False)
    assert (tmp_path / "metrics.jsonl").read_text() == before


def test_a_checkpoint_of_another_configuration_is_refused(small_dataset, tmp_path):
    train(_cfg(z_dim=8), tmp_path / "other", small_dataset, progress=False, stop_after=1)
    train(_cfg(), tmp_path / "run", small_dataset, progress=False, stop_after=1)
    for name in ("last.pt", "best.pt"):
        shutil.copy(tmp_path / "other" / name, tmp_path / "run" / name)
    with pytest.raises(TsdsaeError, match="another configuration"):
        train(_cfg(), tmp_path / "run", small_dataset, progress=False)
    with pytest.raises(TsdsaeError, match="another configuration"):
        load_model(tmp_path / "run")  # what evaluate and probe load


def test_non_finite_features_are_refused_before_training(small_dataset, tmp_path):
    feats = np.array(small_dataset.features)  # a data set built in memory: no cache to verify
    feats[small_dataset.train[0], 3, 5] = np.nan
    with pytest.raises(TsdsaeError, match="training features hold NaN"):
        train(_cfg(), tmp_path / "run", dataclasses.replace(small_dataset, features=feats), progress=False)
    assert not (tmp_path / "run").exists()


def _zero_rows(folder):
    feats = np.load(folder / "features.npy", mmap_mode="r+")
    feats[:2] = 0.0
    feats.flush()


def _nan_in_place(folder):
    feats = np.load(folder / "features.npy", mmap_mode="r+")
    feats[0, 3, 5] = np.nan
    feats.flush()


def _edit_manifest(folder, edit):
    m = json.loads((folder / "manifest.json").read_text())
    edit(m)
    (folder / "manifest.json").write_text(json.dumps(m))


def _cut(name, keep=0.5):
    def damage(folder):
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: int(len(data) * keep)])
    return damage


@pytest.mark.parametrize("damage, word", [
    (_zero_rows, "checksum differs"),
    (_nan_in_place, "checksum differs"),
    (_cut("features.npy"), "bytes"),
    (_cut("labels.npz"), "bytes"),
    (_cut("manifest.json"), "manifest.json is damaged"),
    (lambda f: (f / "audio.npy").unlink(), "audio.npy is missing"),
    (lambda f: _edit_manifest(f, lambda m: m["counts"]["train"].update(violin=1)), "changed after the build"),
    (lambda f: _edit_manifest(f, lambda m: m["data"].update(instruments=["flute", "trumpet"])),
     "changed after the build"),
])
def test_a_damaged_dataset_cache_is_refused_with_the_rebuild_hint(small_dataset, tmp_path, damage, word):
    folder = tmp_path / "data"
    shutil.copytree(small_dataset.path, folder)
    load_dataset(folder)  # intact: loads
    damage(folder)
    with pytest.raises(TsdsaeError, match=word) as e:
        load_dataset(folder)
    assert "tsdsae synth --rebuild" in str(e.value) and "\n" not in str(e.value)


def test_a_cache_written_before_checksums_gains_them_on_first_load(small_dataset, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(small_dataset.path, folder)
    _edit_manifest(folder, lambda m: [m.pop("files"), m.pop("checksum")])
    ds = load_dataset(folder)
    assert set(ds.manifest["files"]) == {"audio.npy", "features.npy", "labels.npz"}
    _zero_rows(folder)  # from now on, damage is found
    with pytest.raises(TsdsaeError, match="checksum differs"):
        load_dataset(folder)


def test_a_set_without_validation_clips_is_refused(tmp_path):
    ds = build_dataset(DataConfig(name="test-two", n_melodies=2), FeatureConfig(), cache_dir=tmp_path, workers=1,
                       progress=False)
    assert len(ds.val) == 0
    with pytest.raises(TsdsaeError, match="no validation clips"):
        train(_cfg(), tmp_path / "run", ds, progress=False)


@pytest.mark.parametrize("content, word", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not valid YAML"),
    (yaml.safe_dump({"z_dims": 16}).encode(), "z_dims must be a list"),
    (yaml.safe_dump({"overrides": {"train": 5}}).encode(), "train must map fields to values"),
])
def test_bad_sweep_files_are_one_line_errors(tmp_path, capsys, content, word):
    path = tmp_path / "sweep.yaml"
    path.write_bytes(content)
    with pytest.raises(TsdsaeError, match=word):
        list(Sweep.from_file(path).configs())
    _one_line(capsys, ["sweep", str(path), "--no-progress"], word)


def test_seeded_blocks_leave_the_random_stream_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with seeded(7):
        a = torch.rand(2)
    assert torch.equal(torch.rand(3), expected)  # the outer stream continues as if nothing ran
    with seeded(7):
        assert torch.equal(torch.rand(2), a)  # and the block is reproducible


def test_checkpoints_carry_the_gpu_random_state_slot(small_dataset, tmp_path):
    train(_cfg(), tmp_path, small_dataset, progress=False, stop_after=1)
    ck = load_checkpoint(tmp_path / "last.pt")
    assert "cuda_rng" in ck and (ck["cuda_rng"] is None) == (not torch.cuda.is_initialized())


def test_a_run_folder_is_locked_while_a_process_trains_it(small_dataset, tmp_path):
    holder = subprocess.Popen(["sleep", "60"])  # stands for a living process that holds the folder
    try:
        tmp_path.joinpath(".lock").write_text(str(holder.pid))
        with pytest.raises(TsdsaeError, match=f"being trained by process {holder.pid}"):
            train(_cfg(), tmp_path, small_dataset, progress=False)
    finally:
        holder.kill()
        holder.wait()
    train(_cfg(), tmp_path, small_dataset, progress=False)  # the dead holder's lock is taken over
    assert (tmp_path / "result.json").is_file() and not (tmp_path / ".lock").exists()


def _children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (Linux /proc)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


def _running(pid):
    """Whether process ``pid`` exists and is not a zombie (an exited child its new parent has not reaped yet)."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def _kill_when_workers_run(argv, n_workers, tmp_path, busy=lambda: True):
    """Start ``argv``, wait until its workers run and ``busy()`` holds, kill -9 it: the workers still alive."""
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    workers = []
    while time.time() < deadline and (len(workers) < n_workers or not busy()):
        time.sleep(0.2)
        workers = [c for c in _children(proc.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]
    assert workers and busy(), "the command never got its worker processes to work"
    time.sleep(2.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    def still_alive():
        return [w for w in workers if _running(w)]

    # a working worker notices within a second; one still importing (a loaded machine) when it reaches
    # the pool's initialiser: allow for that, but not for a worker that would live on
    deadline = time.time() + 30
    while still_alive() and time.time() < deadline:
        time.sleep(0.5)
    alive = still_alive()
    for w in alive:
        os.kill(w, signal.SIGKILL)
    return alive


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_kill_9_of_synth_leaves_no_worker_behind(tmp_path):
    argv = [sys.executable, "-m", "tsdsae.cli", "synth", "--n-melodies", "1200", "--workers", "2",
            "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    assert _kill_when_workers_run(argv, 2, tmp_path) == []


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_kill_9_of_a_sweep_leaves_no_worker_behind(tmp_path, small_dataset):
    spec = {"preset": "cpu", "quick": False, "methods": ["dsae"], "z_dims": [4], "seeds": [0], "out": "runs",
            "evaluate": False, "cache_dir": str(small_dataset.path.parents[1]),
            "overrides": {"data": {"name": "test-small", "n_melodies": 24},
                          "train": {"max_epochs": 100000, "patience": 100000, "batch_size": 8}}}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(spec))
    argv = [sys.executable, "-m", "tsdsae.cli", "sweep", "sweep.yaml", "--workers", "1", "--no-progress"]
    lock = tmp_path / "runs" / "dsae-z4-factorised-framewise-seed0" / ".lock"
    assert _kill_when_workers_run(argv, 1, tmp_path, busy=lock.exists) == []  # killed while training
    holder = int(lock.read_text())  # left by the killed worker: stale, so the next run takes it over
    assert not _running(holder)


def test_synth_with_a_file_that_is_no_soundfont_is_one_line_with_worker_processes(tmp_path, capsys):
    bad = tmp_path / "notes.sf2"
    bad.write_text("this is not a soundfont")
    _one_line(capsys, ["synth", "--soundfont", str(bad), "--n-melodies", "40", "--workers", "2",
                       "--cache-dir", str(tmp_path / "cache"), "--no-progress"], "could not load the soundfont")


@pytest.mark.parametrize("seconds", [0.5, 0.05])
def test_clips_shorter_than_the_melody_are_refused(seconds):
    with pytest.raises(TsdsaeError, match="cut the two-bar melody .* use n_samples >= 64000"):
        DataConfig(n_samples=int(seconds * 16000)).validate()
    with pytest.raises(TsdsaeError, match="use n_samples >= 96000"):  # slower: the melody lasts longer
        DataConfig(n_samples=64000, tempo_bpm=80).validate()


def test_clips_shorter_than_one_window_are_refused_for_recordings(tmp_path):
    from tsdsae.data.urmp import prepare_urmp

    FeatureConfig().check_clips(16000, 2048, "urmp")  # one window: fine
    with pytest.raises(TsdsaeError, match="urmp: clips of 800 samples .* shorter than one analysis window"):
        prepare_urmp(tmp_path, UrmpConfig(n_samples=800))
    with pytest.raises(TsdsaeError, match="^urmp: clips at 22050 Hz but features expect 16000 Hz$"):
        prepare_urmp(tmp_path, UrmpConfig(sample_rate=22050))
    cfg = Config()
    cfg.data.n_samples, cfg.data.path = 800, "/prepared"  # a prepared folder: no melody to cut, still a window
    with pytest.raises(TsdsaeError, match="data: clips of 800 samples"):
        cfg.validate()
