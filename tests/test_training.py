"""The trainer: freezing, the snapshot, learning, resume, checkpoints and errors."""

import json
import time

import numpy as np
import pytest
import torch

from tsdsae import device, training
from tsdsae.config import Config, ModelConfig, TrainConfig, load_preset
from tsdsae.errors import TsdsaeError
from tsdsae.methods import get_method, stage_plan
from tsdsae.models import DSAE
from tsdsae.runs import describe_run, load_checkpoint, load_model, read_metrics
from tsdsae.training import batch_loss, evaluate_loss, set_trainable, take_snapshot, train


def _cfg(method="ts-dsae", c=2, epochs=5, **model):
    cfg = Config(preset="test")
    cfg.model = ModelConfig(**({"z_dim": 8} | model))
    cfg.train = TrainConfig(method=method, stage1_epochs=c, max_epochs=epochs, patience=epochs, batch_size=8)
    return cfg


def _params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("method", ["dsae-f", "ts-dsae-noreg", "ts-dsae"])
def test_frozen_modules_get_no_gradient_before_c_and_do_after(method, small_dataset):
    cfg = _cfg(method)
    model = DSAE(cfg.model)
    x = torch.from_numpy(np.array(small_dataset.features[:4]))
    m = get_method(method)
    for epoch, snapshot in ((1, None), (2, take_snapshot(model))):
        plan = stage_plan(m, epoch, cfg.train)
        set_trainable(model, plan.trainable)
        model.zero_grad(set_to_none=True)
        batch_loss(model, x, plan, snapshot)[0].backward()
        for name, module in model.named_children():
            grads = [p.grad for p in module.parameters()]
            if name in plan.trainable:
                assert all(g is not None and g.abs().sum() > 0 for g in grads), (epoch, name)
            else:
                assert all(g is None for g in grads), (epoch, name)


def test_stage_one_leaves_local_modules_at_their_initialisation(small_dataset, tmp_path):
    cfg = _cfg("ts-dsae", c=2, epochs=2 + 1)
    torch.manual_seed(cfg.train.seed)
    init = DSAE(cfg.model)
    train(cfg, tmp_path, small_dataset, progress=False, stop_after=2)
    after = DSAE(cfg.model)
    after.load_state_dict(load_checkpoint(tmp_path / "last.pt")["model"])
    for name in ("local_encoder", "prior"):
        for k, v in getattr(init, name).state_dict().items():
            assert torch.equal(v, getattr(after, name).state_dict()[k]), (name, k)
    dec = after.decoder.state_dict()
    assert all(not torch.equal(v, dec[k]) for k, v in init.decoder.state_dict().items())


def test_snapshot_is_the_stage_one_encoder_and_never_changes(small_dataset, tmp_path):
    cfg = _cfg("ts-dsae", c=2, epochs=5)
    train(cfg, tmp_path, small_dataset, progress=False, stop_after=2)
    at_c = {k: v.clone() for k, v in load_checkpoint(tmp_path / "last.pt")["model"].items()
            if k.startswith("global_encoder.")}
    train(cfg, tmp_path, small_dataset, progress=False)
    ck = load_checkpoint(tmp_path / "last.pt")
    for k, v in ck["snapshot"].items():
        assert torch.equal(v, at_c["global_encoder." + k])
    moved = any(not torch.equal(ck["model"]["global_encoder." + k], v) for k, v in ck["snapshot"].items())
    assert moved  # the live global encoder trained on in stage 2
    n_model = sum(1 for _ in DSAE(cfg.model).parameters())
    assert sum(len(g["params"]) for g in ck["optimizer"]["param_groups"]) == n_model


def test_bf16_step_is_close_to_fp32_and_keeps_float32_state(small_dataset):
    cfg = _cfg("ts-dsae")
    x = torch.from_numpy(np.array(small_dataset.features[:6]))
    torch.manual_seed(0)
    model = DSAE(cfg.model)
    plan = stage_plan(get_method("ts-dsae"), 2, cfg.train)
    snapshot = take_snapshot(model)
    losses = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(1)
        loss, terms = batch_loss(model, x, plan, snapshot, precision)
        assert all(t.dtype == torch.float32 and torch.isfinite(t) for t in terms.values()), precision
        model.zero_grad(set_to_none=True)
        loss.backward()
        assert all(p.grad.dtype == torch.float32 for p in model.parameters()), precision
        losses[precision] = float(loss.detach())
    # bfloat16 keeps 8 bits of mantissa: the same loss to about 1 %, not exactly
    assert losses["bf16"] != losses["fp32"]
    assert abs(losses["bf16"] - losses["fp32"]) < 0.02 * abs(losses["fp32"]), losses


@pytest.mark.skipif(device.native_bf16(torch.device("cpu")) is False,
                    reason="bfloat16 is emulated on this CPU (no AVX-512 BF16): 40 epochs take many minutes; "
                           "the one-step test above checks the maths")
def test_bf16_training_learns_and_is_recorded(small_dataset, tmp_path):
    cfg = _cfg("dsae", epochs=40)
    cfg.train.precision = "bf16"
    train(cfg, tmp_path, small_dataset, progress=False)
    rec = [m["val"]["rec"] for m in read_metrics(tmp_path)]
    assert rec[-1] < 0.5 * rec[0], (rec[0], rec[-1])
    assert json.loads((tmp_path / "config.json").read_text())["train"]["precision"] == "bf16"
    assert all(v.dtype == torch.float32 for v in load_checkpoint(tmp_path / "last.pt")["model"].values())


@pytest.mark.parametrize("flags, warned", [({"avx2", "fma"}, True), ({"avx2", "avx512f", "avx512_bf16"}, False)])
def test_bf16_on_a_cpu_without_native_bfloat16_warns(small_dataset, tmp_path, monkeypatch, recwarn, flags, warned):
    monkeypatch.setattr(device, "_cpu_info", lambda: ("a test CPU", frozenset(flags)))
    cfg = _cfg("dsae", epochs=1)
    cfg.train.precision = "bf16"
    train(cfg, tmp_path, small_dataset, progress=False)
    said = [str(w.message) for w in recwarn if "bfloat16" in str(w.message)]
    assert bool(said) == warned, said
    assert not said or ("a test CPU" in said[0] and "fp32" in said[0])
    cfg.train.precision = "fp32"
    train(cfg, tmp_path / "fp32", small_dataset, progress=False)  # float32 never warns
    assert len([w for w in recwarn if "bfloat16" in str(w.message)]) == len(said)


def test_training_reduces_the_loss(small_dataset, tmp_path):
    cfg = _cfg("dsae", epochs=100)
    cfg.train.batch_size = 8  # 19 training clips: 3 steps per epoch, 300 steps
    train(cfg, tmp_path, small_dataset, progress=False)
    rec = [m["val"]["rec"] for m in read_metrics(tmp_path)]
    assert rec[-1] < 0.5 * rec[0], (rec[0], rec[-1])


def test_processor_time_leaves_out_waiting(small_dataset, tmp_path, monkeypatch):
    def slow_validation(*args, **kwargs):  # a paused process, or one waiting for a busy core
        time.sleep(0.3)
        return evaluate_loss(*args, **kwargs)

    monkeypatch.setattr(training, "evaluate_loss", slow_validation)
    res = train(_cfg("dsae", epochs=2), tmp_path, small_dataset, progress=False)
    ms = read_metrics(tmp_path)
    assert all(m["seconds"] - m["cpu_seconds"] >= 0.25 for m in ms), ms
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["train_cpu_seconds"] == pytest.approx(sum(m["cpu_seconds"] for m in ms), abs=0.1)
    assert result["train_seconds"] >= result["train_cpu_seconds"] + 0.5 and res.cpu_seconds is not None
    assert "min of processor time" in describe_run(tmp_path)


@pytest.mark.parametrize("method, encoder, decoder", [("ts-dsae", "factorised", "framewise"),
                                                      ("dsae-f", "full", "enriched")])
def test_resume_gives_the_same_weights(small_dataset, tmp_path, method, encoder, decoder):
    cfg = _cfg(method, c=2, epochs=5, encoder=encoder, decoder=decoder)
    train(cfg, tmp_path / "straight", small_dataset, progress=False)
    for stop in (1, 3, None):  # killed in stage 1, again in stage 2, then finished
        train(cfg, tmp_path / "resumed", small_dataset, progress=False, stop_after=stop)
    a = load_checkpoint(tmp_path / "straight" / "last.pt")
    b = load_checkpoint(tmp_path / "resumed" / "last.pt")
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    drop_time = lambda ms: [{k: v for k, v in m.items() if k not in ("seconds", "cpu_seconds")} for m in ms]  # noqa: E731
    assert drop_time(read_metrics(tmp_path / "straight")) == drop_time(read_metrics(tmp_path / "resumed"))


def test_run_folder_and_best_model(small_dataset, tmp_path):
    cfg = _cfg("ts-dsae", c=1, epochs=3)
    res = train(cfg, tmp_path, small_dataset, progress=False)
    assert res.epochs == 3 and res.best_epoch >= 1  # best is taken from the final stage
    cfg2, model = load_model(tmp_path)
    assert cfg2 == cfg and not model.training
    assert json.loads((tmp_path / "config.json").read_text())["train"]["method"] == "ts-dsae"
    assert [m["stage"] for m in read_metrics(tmp_path)] == [1, 2, 2]


def test_a_different_config_in_the_same_folder_is_refused(small_dataset, tmp_path):
    train(_cfg(epochs=3), tmp_path, small_dataset, progress=False, stop_after=1)
    with pytest.raises(TsdsaeError, match="different configuration"):
        train(_cfg(epochs=4), tmp_path, small_dataset, progress=False)


@pytest.mark.parametrize("mutate, word", [
    (lambda c: setattr(c.model, "z_dim", 0), "z_dim must be positive"),
    (lambda c: setattr(c.train, "stage1_epochs", 5), "never starts"),
    (lambda c: setattr(c.train, "method", "vae"), "unknown method 'vae'"),
    (lambda c: setattr(c.model, "encoder", "rnn"), "unknown encoder"),
    (lambda c: setattr(c.model, "x_dim", 64), "mel bands"),
    (lambda c: setattr(c.train, "precision", "fp16"), "unknown precision 'fp16'"),
])
def test_contradictory_configs_are_one_line_errors(mutate, word):
    cfg = _cfg(epochs=5)
    mutate(cfg)
    with pytest.raises(TsdsaeError, match=word):
        cfg.validate()


def test_unknown_preset_is_an_error():
    with pytest.raises(TsdsaeError, match="unknown preset"):
        load_preset("gpu")


def test_feature_size_mismatch(small_dataset, tmp_path):
    cfg = _cfg(epochs=3)
    cfg.model.x_dim = cfg.features.n_mels = 64
    with pytest.raises(TsdsaeError, match="80 features per frame"):
        train(cfg, tmp_path, small_dataset, progress=False)


def test_truncated_and_foreign_checkpoints(small_dataset, tmp_path):
    train(_cfg(c=1, epochs=2), tmp_path / "run", small_dataset, progress=False)
    blob = (tmp_path / "run" / "last.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(TsdsaeError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(TsdsaeError, match="not a tsdsae checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(TsdsaeError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "text.pt")
    with pytest.raises(TsdsaeError, match="not a tsdsae run folder"):
        load_model(tmp_path)
