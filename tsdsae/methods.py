"""What distinguishes DSAE, DSAE-f, TS-DSAE w/o reg and TS-DSAE (protocol §3; notebooks 02–04).

A :class:`Method` is a small description: which modules train in stage 1 and
in stage 2, which prior v gets in stage 2, and whether the swap regularisers are
added. :func:`stage_plan` turns it and an epoch into a :class:`StagePlan` the
trainer follows; the trainer itself has no per-method branches.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import METHODS, TrainConfig
from .errors import TsdsaeError

ALL = ("global_encoder", "local_encoder", "prior", "decoder")


@dataclass(frozen=True)
class Method:
    """One training method of the paper's Fig. 3 legend."""

    name: str
    label: str
    #: modules that train before C; None means "no stage 1" (all train from epoch 0).
    stage1_trainable: tuple[str, ...] | None
    stage2_trainable: tuple[str, ...]
    informed_prior: bool
    regularisers: bool


REGISTRY: dict[str, Method] = {
    "dsae": Method("dsae", "DSAE", None, ALL, informed_prior=False, regularisers=False),
    "dsae-f": Method("dsae-f", "DSAE-f", ("global_encoder", "decoder"), ("local_encoder", "prior", "decoder"),
                     informed_prior=False, regularisers=False),
    "ts-dsae-noreg": Method("ts-dsae-noreg", "TS-DSAE w/o reg", ("global_encoder", "decoder"), ALL,
                            informed_prior=True, regularisers=False),
    "ts-dsae": Method("ts-dsae", "TS-DSAE", ("global_encoder", "decoder"), ALL,
                      informed_prior=True, regularisers=True),
}
assert tuple(REGISTRY) == METHODS
#: method name -> its label in the paper's Fig. 3 legend (every table and figure uses these)
METHOD_LABELS = {name: method.label for name, method in REGISTRY.items()}


def get_method(name: str) -> Method:
    """The method called ``name`` (one of ``dsae``, ``dsae-f``, ``ts-dsae-noreg``, ``ts-dsae``)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise TsdsaeError(f"unknown method {name!r}: choose one of {', '.join(REGISTRY)}") from None


@dataclass(frozen=True)
class StagePlan:
    """What one epoch of a method does."""

    stage: int                    # 1 or 2 (DSAE: always 2, it has no constrained stage)
    trainable: tuple[str, ...]
    informed_prior: bool          # KL_v against the snapshot q_φC(v|x) instead of N(0, I)
    regularisers: bool
    zero_z: bool                  # feed z = 0 to the decoder (a stage-1 option)
    take_snapshot: bool           # first epoch of stage 2: snapshot the global encoder now


def stage_plan(method: Method, epoch: int, train: TrainConfig) -> StagePlan:
    """The plan of ``method`` at ``epoch`` (0-based) under the schedule ``train``."""
    if method.stage1_trainable is not None and epoch < train.stage1_epochs:
        return StagePlan(stage=1, trainable=method.stage1_trainable, informed_prior=False, regularisers=False,
                         zero_z=train.stage1_zero_z, take_snapshot=False)
    first = method.stage1_trainable is not None and epoch == train.stage1_epochs
    return StagePlan(stage=2, trainable=method.stage2_trainable, informed_prior=method.informed_prior,
                     regularisers=method.regularisers, zero_z=False, take_snapshot=first and method.informed_prior)
