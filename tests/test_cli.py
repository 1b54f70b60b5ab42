"""The ``tsdsae`` command line."""

import json
import subprocess
import sys

from tsdsae.cli import main


def test_synth_builds_a_small_set(tmp_path, capsys):
    assert main(["synth", "--n-melodies", "8", "--cache-dir", str(tmp_path), "--workers", "1",
                 "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"]["items"] == 8
    assert (tmp_path / "datasets").is_dir()


def test_errors_are_one_line_with_exit_status_2(tmp_path):
    for args, word in ((["synth", "--preset", "nope"], "unknown preset"),
                       (["synth", "--soundfont", str(tmp_path / "x.sf2")], "soundfont not found"),
                       (["synth", "--instruments", "kazoo"], "unknown instrument")):
        r = subprocess.run([sys.executable, "-m", "tsdsae.cli", *args, "--cache-dir", str(tmp_path)],
                           capture_output=True, text=True)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and word in lines[0] and lines[0].startswith("tsdsae: error:")


def test_train_writes_a_run_folder_and_resumes(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TSDSAE_CACHE", str(tmp_path / "cache"))
    args = ["train", "--quick", "--method", "ts-dsae", "--z-dim", "4", "--stage1-epochs", "1",
            "--max-epochs", "3", "--run-dir", str(tmp_path / "run"), "--no-progress"]
    assert main([*args, "--stop-after", "2"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["epochs"] == 2 and not (tmp_path / "run" / "result.json").exists()
    assert main(args) == 0  # resumes and finishes
    out = json.loads(capsys.readouterr().out)
    assert out["epochs"] == 3
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["method"] == "ts-dsae" and result["quick"] and result["epochs"] == 3
    assert {"config.json", "metrics.jsonl", "last.pt", "best.pt"} <= {p.name for p in (tmp_path / "run").iterdir()}


def test_train_rejects_a_contradictory_schedule(tmp_path, capsys):
    code = main(["train", "--quick", "--stage1-epochs", "9", "--max-epochs", "5", "--run-dir", str(tmp_path)])
    assert code == 2 and "never starts" in capsys.readouterr().err
