"""Two global factors (per-factor swaps, octave by pitch) and the linear probes of v and z."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tsdsae.cli import main
from tsdsae.config import Config, DataConfig, EvalConfig, FeatureConfig, ModelConfig, TrainConfig
from tsdsae.data import build_dataset
from tsdsae.data.dataset import MelodyAudioDataset
from tsdsae.data.melodies import FACTORS
from tsdsae.errors import TsdsaeError
from tsdsae.evaluation import partners
from tsdsae.evaluation.factors import factor_swap_f1, global_labels, octave_accuracy, pair_kinds
from tsdsae.evaluation.probing import linear_probe, probe_run, slot_pool
from tsdsae.evaluation.suite import evaluate_run
from tsdsae.sweep import run_is_done
from tsdsae.tables import factor_follow_line, global_factor_table, probing_table
from tsdsae.training import train

T, X, ZD = 12, 80, 3
OCTAVE = FACTORS.index("octave")


class TwoFactors(torch.nn.Module):
    """Frames are [instrument code, octave code | melody (ZD) | zeros]. v is the time-mean of both
    codes. ``octave_in_z`` models also put the octave code in z and decode it from there."""

    def __init__(self, octave_in_z: bool):
        super().__init__()
        self.octave_in_z = octave_in_z

    def check_input(self, x):
        assert x.shape[-1] == X

    def encode(self, x, sample=True):
        v = x[:, :, :2].mean(1)
        z = x[..., 1 : 2 + ZD] if self.octave_in_z else x[..., 2 : 2 + ZD]
        return (v, torch.zeros_like(v)), v, (z, torch.full_like(z, -30.0))

    def decode(self, z, v):
        if self.octave_in_z:
            codes = torch.cat([v[:, None, :1].expand(-1, z.shape[1], -1), z[..., :1]], -1)
            z = z[..., 1:]
        else:
            codes = v.unsqueeze(1).expand(-1, z.shape[1], -1)
        return torch.cat([codes, z, torch.zeros(*z.shape[:2], X - 2 - ZD)], -1)


def _two_factor_dataset(n=80, seed=0):
    rng = np.random.default_rng(seed)
    inst, octave = np.arange(n) % 2, (np.arange(n) // 2) % 2
    feats = np.zeros((n, T, X), np.float32)
    feats[:, :, 0] = (3.0 * (2 * inst - 1) + 0.3 * rng.standard_normal(n))[:, None]
    feats[:, :, 1] = (3.0 * (2 * octave - 1) + 0.3 * rng.standard_normal(n))[:, None]
    feats[:, :, 2 : 2 + ZD] = rng.standard_normal((n, T, ZD))
    factors = np.zeros((n, 9), np.int64)
    factors[:, OCTAVE] = octave
    idx = rng.permutation(n)
    return MelodyAudioDataset(Path("."), {}, feats, np.zeros((n, 1), np.int16), np.arange(n), factors, inst,
                              np.sort(idx[:56]), np.sort(idx[56:]))


def test_global_labels_and_pair_kinds():
    ds = _two_factor_dataset()
    assert list(global_labels(ds)) == ["instrument", "octave"]
    assert pair_kinds(["instrument", "octave"]) == [("instrument",), ("octave",), ("instrument", "octave")]


def test_partners_differ_exactly_as_asked():
    rng = np.random.default_rng(1)
    table = rng.integers(0, 2, size=(60, 2))
    for differ in ([True, False], [False, True], [True, True]):
        j = partners(table, seed=5, differ=differ)
        assert ((table[j] != table) == np.array(differ)).all()
        np.testing.assert_array_equal(j, partners(table, seed=5, differ=differ))
    y = table[:, 0]
    np.testing.assert_array_equal(partners(y, seed=2), partners(y[:, None], seed=2, differ=[True]))
    with pytest.raises(ValueError, match="one flag per factor"):
        partners(table, differ=[True])


def test_a_disentangled_model_moves_exactly_the_swapped_factors():
    out = factor_swap_f1(TwoFactors(octave_in_z=False), _two_factor_dataset())
    assert list(out) == ["instrument", "octave", "instrument+octave"]
    for kind in out.values():
        assert kind["n_pairs"] == 24
        for scores in kind["f1"].values():
            assert scores == {"pre": 1.0, "post_global": 1.0, "post_local": 1.0}


def test_an_octave_kept_in_z_does_not_follow_v():
    out = {kind: d["f1"] for kind, d in factor_swap_f1(TwoFactors(octave_in_z=True), _two_factor_dataset()).items()}
    assert out["instrument"]["instrument"]["post_global"] == 1.0  # the instrument still follows v
    assert out["instrument"]["octave"]["post_global"] == 1.0     # same octave on both sides: nothing to move
    assert out["octave"]["octave"]["post_global"] == 0.0         # the octave stays with i's z
    assert out["octave"]["octave"]["post_local"] == 0.0          # and arrives with j's z
    assert out["instrument+octave"]["instrument"]["post_global"] == 1.0


def test_octave_accuracy_judges_only_the_octave():
    ref = np.array([0.0, 440.0, 440.0, 220.0])
    assert octave_accuracy(ref, ref) == 1.0
    assert octave_accuracy(ref, ref * 2) == 0.0                         # an octave up
    assert octave_accuracy(ref, ref * 2 ** (4 / 12)) == 1.0             # a third off, the right octave
    assert octave_accuracy(ref, np.array([0.0, 880.0, 440.0, 0.0])) == 0.5
    assert np.isnan(octave_accuracy(ref, np.zeros(4)))


def test_slot_pool_averages_the_frames_of_each_eighth_note():
    feats = FeatureConfig()
    t = feats.n_frames(64000)
    centres = np.arange(t) * feats.hop_length / feats.sample_rate
    z = np.floor(centres / 0.25)[None, :, None].repeat(2, axis=2)  # z_t = index of its slot
    pooled = slot_pool(z, feats).reshape(16, 2)
    np.testing.assert_array_equal(pooled[:, 0], np.arange(16))


def test_linear_probe_finds_a_linear_code_and_not_noise():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 6))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    assert linear_probe(x[:300], y[:300], x[300:], y[300:]) > 0.95
    noise = rng.integers(0, 2, 400)
    assert linear_probe(x[:300], noise[:300], x[300:], noise[300:]) < 0.7


def _cfg(epochs=2):
    cfg = Config(preset="test", eval=EvalConfig(crepe_model="tiny", n_pitch_clips=2, n_fad_clips=3,
                                                griffin_lim_iters=4))
    cfg.model = ModelConfig(z_dim=4)
    cfg.train = TrainConfig(method="ts-dsae", stage1_epochs=1, max_epochs=epochs, patience=epochs, batch_size=8)
    return cfg


@pytest.fixture(scope="module")
def octave_run(tmp_path_factory):
    data = DataConfig(name="test-octave", n_melodies=32, factors={"tonic": ["C"], "octave": [4, 5], "scale": ["major"]})
    ds = build_dataset(data, FeatureConfig(), cache_dir=tmp_path_factory.mktemp("cache"), workers=2, progress=False)
    cfg = _cfg()
    cfg.data = data
    path = tmp_path_factory.mktemp("runs") / "octave"
    train(cfg, path, ds, progress=False)
    return path, ds


def test_evaluation_judges_each_global_factor_when_there_are_several(octave_run):
    path, ds = octave_run
    out = evaluate_run(path, dataset=ds, progress=False)
    f1 = out["global_factors"]["swap_f1"]
    assert set(f1) <= {"instrument", "octave", "instrument+octave"} and f1  # a tiny set may lack some pairs
    assert all(0.0 <= s <= 1.0 for kind in f1.values() for d in kind["f1"].values() for s in d.values())
    pitch = out["global_factors"]["octave_by_pitch"]
    assert set(pitch) <= {"octave", "instrument+octave"}
    assert all(1 <= p["n_clips"] <= 2 and 0.0 <= p["rpa_vs_own_octave"] <= 1.0 for p in pitch.values())


def test_probe_run_writes_probing_json_and_the_cli_prints_a_table(octave_run, capsys):
    path, ds = octave_run
    out = probe_run(path, dataset=ds)
    saved = json.loads((path / "probing.json").read_text())
    assert saved["factors"] == out["factors"]
    factors = out["factors"]
    assert list(factors)[:2] == ["instrument", "octave"] and "rhythm_bar1" in factors and "arp_chord4" in factors
    for d in factors.values():
        assert d["chance"] == pytest.approx(1 / d["classes"]) and 0.0 <= d["v"] <= 1.0 and 0.0 <= d["z"] <= 1.0
    assert main(["probe", str(path), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "instrument from v" in printed and "octave from z" in printed and "rhythm from z" in printed


def test_a_sweep_run_is_done_only_with_its_probes(octave_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("result.json", "evaluation.json"):
        (run / name).write_text("{}")
    assert run_is_done(run, evaluate=False) and not run_is_done(run, evaluate=True)
    (run / "probing.json").write_text("{}")
    assert run_is_done(run, evaluate=True)


def test_probing_table_groups_and_averages():
    def probes(instrument_v):
        return {"instrument": {"v": instrument_v, "z": 0.5, "chance": 0.5, "kind": "global"},
                "rhythm_bar1": {"v": 0.2, "z": 1.0, "chance": 0.05, "kind": "local"},
                "rhythm_bar2": {"v": 0.4, "z": 0.8, "chance": 0.05, "kind": "local"}}

    rows = [{"method": "ts-dsae", "z_dim": 16, "probing": probes(v)} for v in (1.0, 0.5)]
    table = probing_table(rows).splitlines()
    assert table[0] == ("| method | z | runs | instrument from v | instrument from z | rhythm from v "
                        "| rhythm from z |")
    assert table[2] == "| chance |  |  | 0.50 | 0.50 | 0.05 | 0.05 |"
    assert table[3] == "| TS-DSAE | 16 | 2 | 0.75 | 0.50 | 0.30 | 0.90 |"


def test_global_factor_table_says_per_run_whether_each_factor_follows_v():
    def run(seed, octave_f1, with_octave_pairs=True, stage1_epochs=20):
        f1 = {"instrument": {"n_pairs": 4, "f1": {"instrument": {"post_global": 1.0}, "octave": {"post_global": 1.0}}}}
        pitch = {}
        if with_octave_pairs:
            f1["octave"] = {"n_pairs": 4, "f1": {"instrument": {"post_global": 1.0},
                                                 "octave": {"post_global": octave_f1}}}
            pitch = {"octave": {"n_clips": 2, "octave_accuracy": 0.25, "rpa_vs_own_octave": 0.5,
                                "rpa_vs_target_octave": 0.1}}
        return {"run": f"r{seed}", "method": "ts-dsae", "z_dim": 16, "seed": seed, "stage1_epochs": stage1_epochs,
                "global_factors": {"swap_f1": f1, "octave_by_pitch": pitch}}

    rows = [run(0, 1.0, stage1_epochs=40), run(1, 0.0, with_octave_pairs=False), run(0, 0.5),
            {"run": "plain", "seed": 0}]
    lines = global_factor_table(rows).splitlines()
    assert "octave F1 after the global swap (j differs in octave)" in lines[0] and len(lines) == 5
    assert lines[2] == "| TS-DSAE | 16 | 0 | 20 | 1.00 | 0.50 | 0.25 | 0.50 |"  # by C, then seed
    assert lines[3] == "| TS-DSAE | 16 | 1 | 20 | 1.00 | — | — | — |"
    assert lines[4] == "| TS-DSAE | 16 | 0 | 40 | 1.00 | 1.00 | 0.25 | 0.50 |"
    with pytest.raises(TsdsaeError, match="several global factors"):
        global_factor_table([{"run": "plain", "seed": 0}])
    assert factor_follow_line(rows[:3]) == "C = 20: 0.50 (seed 0); C = 40: 1.00 (seed 0)"
    with pytest.raises(TsdsaeError, match="differ in 'octave'"):
        factor_follow_line(rows[1:2])
