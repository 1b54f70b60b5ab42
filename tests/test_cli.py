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
