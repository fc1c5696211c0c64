"""The rollout's state record: where a rollout stands, kept in the cluster between steps.

Steps are stateless processes; what one stage learns and the next needs lives here: the run it belongs
to, the stage and weight last reached, the stable's replicas and pod template saved before changes,
the judge's accumulated evidence, and approvals. It is stored as JSON under the key ``state.json`` of
the ConfigMap ``progressive-<rollout>`` in the rollout's namespace (see ``docs/step.md``), written with
optimistic concurrency (``resourceVersion``), so two writers never silently overwrite each other.

A record whose ``run_id`` differs from the current run's is stale: the step starts a fresh record for
the new run (keeping only ``history``), so evidence never leaks from one release into the next.

Pure standard library: the step imports it on every start.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Self

__all__ = ["CONFIGMAP_KEY", "SCHEMA_VERSION", "Approval", "Phase", "State"]

CONFIGMAP_KEY = "state.json"
"""Key of the ConfigMap's ``data`` that holds the record."""

SCHEMA_VERSION = 1

Phase = Literal[
    "",
    "deploying",
    "deployed",
    "progressing",
    "analyzing",
    "paused",
    "waiting-approval",
    "promoting",
    "promoted",
    "rolling-back",
    "rolled-back",
    "failed",
]

HISTORY_LIMIT = 20
"""Finished runs kept in ``history`` (one line each), oldest dropped first."""

TIMELINE_LIMIT = 400
"""Marks kept in ``timeline``; past it the oldest analysis polls are dropped first (weights, verdicts, gates
and outcomes are few and are what a report cannot do without). 400 polls of about 250 bytes stay far below a
ConfigMap's 1 MiB."""

MarkKind = Literal["started", "weight", "poll", "verdict", "gate", "outcome"]
"""What a :attr:`State.timeline` entry records: the run's first write, a verified weight, one analysis poll, a
stage's verdict, a gate's decision, how the run ended."""


@dataclass(frozen=True, slots=True)
class Approval:
    """A decision on a gate: ``approved`` lets the stage pass, ``aborted`` fails it."""

    decision: Literal["approved", "aborted"]
    by: str
    at: str
    """RFC 3339 time of the decision."""
    stage: str = ""
    """Stage it applies to; empty: whatever stage is waiting (``progressive abort`` applies to all)."""
    reason: str = ""
    """Why, in the person's words (``progressive abort --reason``); empty when none was given."""
    run_id: str = ""
    """The run it was made for (approvals live outside the record, so they name their run)."""
    authenticated: bool = False
    """``by`` is the user name the API server authenticated the decider as (``SelfSubjectReview``); ``False``: the
    API server does not serve that API and ``by`` is the kubeconfig's user name, unverified."""
    note: str = ""
    """``--by`` text the person added (e.g. on whose behalf a bot decides); never taken as who decided."""

    def who(self) -> str:
        """``by`` as messages show it: unverified names and notes are marked as such."""
        unverified = "" if self.authenticated else " (unverified name)"
        note = f" (note: {self.note})" if self.note else ""
        return f"{self.by}{unverified}{note}"


@dataclass(frozen=True, slots=True)
class State:
    """One rollout's record. Every field has a neutral default, so a missing ConfigMap reads as ``State()``."""

    run_id: str = ""
    phase: Phase = ""
    stage: str = ""
    canary_weight: int | None = None
    """Last canary weight written and verified."""
    pending_weight: int | None = None
    """Weight being written; set before the write, cleared after verification. A step killed in between
    finds it here and converges to it (or back, for rollback) when run again."""
    stable_replicas: int | None = None
    """Stable replicas when the run started (replica-ratio router keeps total capacity)."""
    stable_template: dict[str, Any] | None = None
    """The stable Deployment's pod template before promotion, to restore if promotion fails."""
    rolled_back_from: str = ""
    """The stage the run had reached when its rollback started (the report names it)."""
    verdict: str = ""
    verdict_stage: str = ""
    summary: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    """The judge's accumulated evidence, carried across stages of the same run (JSON-able)."""
    approvals: tuple[Approval, ...] = ()
    aborted: Approval | None = None
    waiting_since: str = ""
    """RFC 3339 time the ``pause`` or ``approve`` step now in ``stage`` started waiting, so a step killed and
    run again resumes the same wait instead of starting a new one."""
    updated_at: str = ""
    history: tuple[str, ...] = ()
    timeline: tuple[Mapping[str, Any], ...] = ()
    """What happened in this run, in order, for ``progressive report``: ``{"t": unix seconds, "kind": MarkKind,
    "stage": ..., ...}`` (see :meth:`mark`). A new run starts with an empty timeline."""

    def for_run(self, run_id: str) -> State:
        """This record if it belongs to ``run_id``, else a fresh one that keeps only the history."""
        if run_id == self.run_id:
            return self
        history = self.history
        if self.run_id:
            line = f"{self.run_id} {self.phase or 'unknown'} weight={self.canary_weight} verdict={self.verdict}"
            history = (*history, line)[-HISTORY_LIMIT:]
        return State(run_id=run_id, history=history).mark("started", "")

    def evolve(self, **changes: Any) -> State:
        """A copy with ``changes`` applied (dataclasses.replace)."""
        return replace(self, **changes)

    def mark(self, kind: MarkKind, stage: str, *, at: float | None = None, **fields: Any) -> State:
        """A copy with one more :attr:`timeline` entry (JSON-able ``fields``), capped at :data:`TIMELINE_LIMIT`."""
        entry = {"t": round(time.time() if at is None else at, 3), "kind": kind, "stage": stage, **fields}
        timeline = (*self.timeline, entry)
        while len(timeline) > TIMELINE_LIMIT:
            oldest_poll = next((i for i, item in enumerate(timeline) if item.get("kind") == "poll"), 0)
            timeline = timeline[:oldest_poll] + timeline[oldest_poll + 1 :]
        return replace(self, timeline=timeline)

    def approval_for(self, stage: str) -> Approval | None:
        """The decision on ``stage``: an abort wins, then the latest approval naming the stage or none."""
        if self.aborted is not None:
            return self.aborted
        for approval in reversed(self.approvals):
            if approval.stage in {stage, ""}:
                return approval
        return None

    def to_json(self) -> str:
        """Stable JSON (sorted keys) for the ConfigMap."""
        data = asdict(self)
        data["schema"] = SCHEMA_VERSION
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Parse a record; unknown keys from a newer version are ignored, missing ones take defaults."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError(f"state record is {type(raw).__name__}, not a JSON object")
        known = set(cls.__dataclass_fields__)
        data = {key: value for key, value in raw.items() if key in known}
        approvals = tuple(Approval(**item) for item in data.pop("approvals", ()) or ())
        aborted_raw = data.pop("aborted", None)
        aborted = Approval(**aborted_raw) if aborted_raw else None
        history = tuple(data.pop("history", ()) or ())
        timeline = tuple(item for item in data.pop("timeline", ()) or () if isinstance(item, dict))
        return cls(**data, approvals=approvals, aborted=aborted, history=history, timeline=timeline)
