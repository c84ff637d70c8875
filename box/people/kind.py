"""The ``positioning`` site rule kind: ``[[positioning]]`` plans with zones and people."""

from __future__ import annotations

from collections.abc import Sequence

from box.alarms.config import AlarmsConfig
from box.alarms.kinds.base import RuleIssue, SiteContext, SiteKind, SiteRule
from box.people.config import Positioning


class PositioningKind(SiteKind[Positioning]):
    name = "positioning"
    prefix = "zone"
    model = Positioning
    description = "site plans: zones, people and their tags (UWB positioning rules)"

    def build(self, items: Sequence[Positioning], ctx: SiteContext) -> list[SiteRule]:
        if not items:
            return []
        # Geometry (shapely, numpy) is imported only by a box that has a site plan.
        from box.people.rule import PeopleRule

        before = {r.plan.id: r for r in ctx.previous if isinstance(r, PeopleRule)}
        return [PeopleRule(plan, ctx, {}, before.get(plan.id)) for plan in items]

    def sources(self, config: object) -> set[str]:
        """What a relay's ``channels`` list may name: each person and each zone."""
        out: set[str] = set()
        for plan in self.items(config):
            out |= {f"person:{p.tag}" for p in plan.people}
            out |= {f"zone:{z.id}" for z in plan.zones}
        return out

    def check(self, config: AlarmsConfig) -> list[RuleIssue]:
        """Zones' channels are declared; their outputs are relays that follow the zone."""
        issues: list[RuleIssue] = []
        declared = {ch.id for ch in config.channels if ch is not None}
        relays = {r.name: r for r in config.outputs.relays}
        plans = getattr(config, self.name, None) or []
        zone_ids = [z.id for plan in plans if plan is not None for z in plan.zones]
        dup = {z for z in zone_ids if zone_ids.count(z) > 1}
        for p, plan in enumerate(plans):
            if plan is None:
                continue
            for z, zone in enumerate(plan.zones):
                base = (self.name, p, "zones", z)
                if zone.id in dup:
                    issues.append(RuleIssue((*base, "id"), zone.id, "zone id used in two plans"))
                for c, ch in enumerate(zone.channels):
                    if ch not in declared:
                        issues.append(
                            RuleIssue((*base, "channels", c), ch, "not a declared channel")
                        )
                for o, out in enumerate(zone.outputs):
                    relay = relays.get(out)
                    if relay is None:
                        issues.append(
                            RuleIssue(
                                (*base, "outputs", o), out, "not a relay in [[outputs.relays]]"
                            )
                        )
                    elif zone.id not in relay.zones:
                        reason = (
                            f"relay {out!r} must list zone {zone.id!r} in its zones to follow it"
                        )
                        issues.append(RuleIssue((*base, "outputs", o), out, reason))
            for g, gas in enumerate(plan.exposure):
                for c, ch in enumerate(gas.channels):
                    if ch not in declared:
                        path = (self.name, p, "exposure", g, "channels", c)
                        issues.append(RuleIssue(path, ch, "not a declared channel"))
        return issues


KIND = PositioningKind()
