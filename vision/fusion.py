"""``[[fusion]]``: an alarm when several alarms stand at once (alarm id ``fusion:ID``).

The case it is for: a person inside a camera zone while a gas channel of that area is in alarm
is worse than either alone, so it escalates (e.g. to level 1, driving the evacuation relay):

```toml
[[fusion]]
id = "tank_farm_person_in_gas"
name = "person in the tank farm during a gas alarm"
all = ["tankcam.intrusion:intrusion"]
any = ["t1.lel:A1", "t2.lel:A1"]
level = 1
```

``all`` alarms must all be active, and at least one of ``any`` (if given). Alarm ids are
``<channel>:<level name>`` as everywhere; shelved members do not count. A built-in site rule kind
(``box.alarms.kinds.BUILTIN_KINDS``, and the ``safetybox.rules`` entry point ``fusion``).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field, model_validator

from box.alarms.alarm import Alarm, AlarmSpec, Transition
from box.alarms.config import AlarmsConfig
from box.alarms.kinds import thresholds
from box.alarms.kinds.base import RuleIssue, SiteContext, SiteKind, SiteRule
from box.core.levels import AlarmLevel
from box.core.model import Identifier, StrictModel
from vision.settings import name_in_chinese


class Fusion(StrictModel):
    id: Identifier
    name: str = ""
    all: list[str] = Field(default_factory=list, description="alarm ids that must all stand")
    any: list[str] = Field(default_factory=list, description="and at least one of these")
    level: AlarmLevel = 1
    latching: bool = False

    @model_validator(mode="after")
    def _members(self) -> Fusion:
        if len(self.all) + min(1, len(self.any)) < 2:
            raise ValueError("a fusion needs at least two conditions (all + one of any)")
        return self


class FusionRule(SiteRule):
    def __init__(self, f: Fusion, all_: list[Alarm], any_: list[Alarm]) -> None:
        self.fusion, self.all_, self.any_ = f, all_, any_
        spec = AlarmSpec(f"fusion:{f.id}", f"fusion:{f.id}", f.name or f.id, f.level, f.latching)
        self.alarm = Alarm(spec)
        self.alarms = [self.alarm]

    def evaluate(self, now: float) -> list[Transition]:
        def on(a: Alarm) -> bool:
            return a.effective and a.shelved is None

        active = all(on(a) for a in self.all_) and (not self.any_ or any(on(a) for a in self.any_))
        because = [a.spec.id for a in (*self.all_, *self.any_) if on(a)]
        return self.alarm.observe(active, now, because=because)


class FusionKind(SiteKind[Fusion]):
    name = "fusion"
    prefix = "fusion"
    model = Fusion
    description = "an alarm when several alarms stand at once (person in zone + gas alarm)"

    def build(self, items: Sequence[Fusion], ctx: SiteContext) -> list[SiteRule]:
        rules: list[SiteRule] = []
        for f in items:
            all_ = [ctx.alarms[a] for a in f.all if a in ctx.alarms]
            any_ = [ctx.alarms[a] for a in f.any if a in ctx.alarms]
            if len(all_) == len(f.all) and (any_ or not f.any):
                rules.append(FusionRule(f, all_, any_))
        return rules

    def check(self, config: AlarmsConfig) -> list[RuleIssue]:
        """Every member names a declared channel's threshold level."""
        levels = {
            ch.id: {lv.name for lv in th.levels}
            for ch in config.channels
            if ch is not None and (th := thresholds.KIND.one(ch))
        }
        issues: list[RuleIssue] = []
        for i, f in enumerate(getattr(config, self.name, None) or []):
            if f is None:
                continue
            for key in ("all", "any"):
                for j, alarm_id in enumerate(getattr(f, key)):
                    channel, _, level = alarm_id.rpartition(":")
                    if level not in levels.get(channel, set()):
                        why = "not an alarm id <channel>:<threshold level> of a declared channel"
                        issues.append(RuleIssue((self.name, i, key, j), alarm_id, why))
        return issues


name_in_chinese(Fusion)
KIND = FusionKind()
