"""``[[votes]]``: k-out-of-n over the channels' threshold alarms (alarm id ``vote:ID``)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field, model_validator

from box.alarms.alarm import Alarm, AlarmSpec, Transition
from box.alarms.config import AlarmsConfig
from box.alarms.kinds import thresholds
from box.alarms.kinds.base import RuleIssue, SiteContext, SiteKind, SiteRule
from box.core.levels import AlarmLevel
from box.core.model import Identifier, StrictModel


class Vote(StrictModel):
    """k-out-of-n: alarm when at least k of the channels have threshold level ``threshold``."""

    id: Identifier
    name: str = ""
    channels: list[str] = Field(min_length=2)
    k: int = Field(ge=1)
    threshold: Identifier = Field(description="level name counted on each channel, e.g. A1")
    level: AlarmLevel = 1
    latching: bool = True

    @model_validator(mode="after")
    def _k_le_n(self) -> Vote:
        if self.k > len(self.channels):
            raise ValueError(f"k = {self.k} is more than the {len(self.channels)} channels")
        return self


class VoteRule(SiteRule):
    def __init__(self, vote: Vote, members: list[Alarm]) -> None:
        self.vote = vote
        self.members = members
        spec = AlarmSpec(
            f"vote:{vote.id}", f"vote:{vote.id}", vote.name or vote.id, vote.level, vote.latching
        )
        self.alarm = Alarm(spec)
        self.alarms = [self.alarm]

    def evaluate(self, now: float) -> list[Transition]:
        voting = [m.spec.source for m in self.members if m.effective and m.shelved is None]
        return self.alarm.observe(len(voting) >= self.vote.k, now, voting=voting, k=self.vote.k)


class VotesKind(SiteKind[Vote]):
    name = "votes"
    prefix = "vote"
    model = Vote

    def build(self, items: Sequence[Vote], ctx: SiteContext) -> list[SiteRule]:
        return [
            VoteRule(
                v, [ctx.alarms[a] for c in v.channels if (a := f"{c}:{v.threshold}") in ctx.alarms]
            )
            for v in items
        ]

    def check(self, config: AlarmsConfig) -> list[RuleIssue]:
        """Every member is a declared channel with the threshold level voted on."""
        issues: list[RuleIssue] = []
        declared = {ch.id for ch in config.channels if ch is not None}
        levels = {
            ch.id: {lv.name for lv in th.levels}
            for ch in config.channels
            if ch is not None and (th := thresholds.KIND.one(ch))
        }
        ids: dict[str, int] = {}
        for v, vote in enumerate(getattr(config, self.name, None) or []):
            if vote is None:
                continue
            if vote.id in ids:
                issues.append(
                    RuleIssue((self.name, v, "id"), vote.id, f"duplicate of {ids[vote.id]}")
                )
            ids.setdefault(vote.id, v)
            for c, channel in enumerate(vote.channels):
                path = (self.name, v, "channels", c)
                if channel not in declared:
                    issues.append(RuleIssue(path, channel, "not a declared channel"))
                elif vote.threshold not in levels.get(channel, set()):
                    reason = f"has no threshold level {vote.threshold!r} to vote on"
                    issues.append(RuleIssue(path, channel, reason))
        return issues


KIND = VotesKind()
