"""A synthetic region for `python -m starter simulate`: tenancies in the 9 municipalities with the
11 corporations of RULES §1, each with a scripted case that follows one branch of the flowchart.

Everything comes from one seeded `random.Random`, so a seed gives the same region every time.
The mix is made up to show every stage and outcome, not taken from real figures; so are the
corporations' shares per municipality below (no personal data anywhere: tenancy references are
`{tag}-{n}`).

Each case has a life of up to `months`: cases that started longer ago have got further, so a run
leaves cases in every stage (arrears, early signal, debt help, arrangement, care, crisis,
aftercare) next to closed ones (resolved, evicted, tenancy ended, withdrawn). A share of parties
is late on purpose (a summons reported days after it was served, a reminder that never came, a
crisis meeting held after the deadline), so `starter audit --all` has something to find.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from vangnet.scenarios import InDays, Region, Scenario, ScriptStep, Send, Wait, send, wait

# Synthetic weights: roughly the municipalities' sizes, and which corporations work where.
MUNICIPALITY_WEIGHTS = {
    "dordrecht": 120, "zwijndrecht": 45, "molenlanden": 45, "gorinchem": 38, "papendrecht": 32,
    "hendrik-ido-ambacht": 31, "sliedrecht": 26, "alblasserdam": 20, "hardinxveld-giessendam": 18,
}
CORPORATIONS_BY_MUNICIPALITY = {
    "alblasserdam": {"rhiant": 60, "trivire": 30, "woonzorg-nederland": 10},
    "dordrecht": {"woonbron": 35, "trivire": 30, "woonkracht10": 25, "woonzorg-nederland": 10},
    "hardinxveld-giessendam": {"fien-wonen": 80, "woonzorg-nederland": 20},
    "hendrik-ido-ambacht": {"trivire": 50, "woonkracht10": 30, "heerjansdam": 20},
    "papendrecht": {"trivire": 50, "woonkracht10": 30, "rhiant": 20},
    "sliedrecht": {"tablis-wonen": 85, "woonzorg-nederland": 15},
    "zwijndrecht": {"woonkracht10": 50, "rhiant": 30, "heerjansdam": 20},
    "gorinchem": {"poort6": 80, "kleurrijkwonen": 20},
    "molenlanden": {"lek-en-waard-wonen": 50, "kleurrijkwonen": 30, "fien-wonen": 20},
}
# Branches of the flowchart and how often each is drawn.
BRANCH_WEIGHTS = {
    "paid_quickly": 14,
    "spoor_1": 20,
    "not_taken_up": 12,
    "reminder_missing": 6,
    "objection": 5,
    "self_referral": 7,
    "court": 20,
    "help_after_summons": 7,
    "concern": 7,
    "moved_out": 5,
    "withdrawn": 3,
}
HELPERS = ("social_team", "municipality", "social_service")


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class _Script:
    """Builds one scenario's steps; `day` is the case's age in days since it opened."""

    def __init__(self, rng: random.Random, rent: int) -> None:
        self.rng = rng
        self.rent = rent
        self.steps: list[ScriptStep] = []
        self.day = 0.0

    def ev(self, event: str, role: str = "corporation", late_days: float | None = None,
           **fields: Any) -> None:
        self.steps.append(send(event, role, late_days=late_days, **fields))

    def wait(self, low: float, high: float | None = None) -> None:
        days = low if high is None else self.rng.uniform(low, high)
        self.steps.append(wait(days=days))
        self.day += days

    def wait_until(self, day: float) -> None:
        if day > self.day:
            self.wait(day - self.day)

    def helper(self) -> str:
        return self.rng.choice(HELPERS)

    # shared stretches --------------------------------------------------------------------------

    def open_arrears(self, age: int, months: int = 1) -> None:
        self.ev("arrears_reported", arrears_cents=self.rent * months, monthly_rent_cents=self.rent,
                arrears_since=InDays(-age))
        self.age0 = age

    def reminder(self, objects: bool = False) -> None:
        self.wait(1, 6)
        self.ev("reminder_sent", tenant_objects_to_signal=objects)

    def until_signal(self) -> None:
        """Past the early-signal threshold (30 days of arrears)."""
        self.wait_until(30 - self.age0 + self.rng.uniform(0.5, 2))

    def debt_help_to_arrangement(self, breach: bool = False) -> None:
        self.wait(4, 20)
        self.ev("help_accepted", self.helper())
        self.wait(3, 15)
        self.ev("debt_help_started", "social_service")
        self.wait(10, 35)
        months = self.rng.randint(4, 10)
        self.ev("payment_arrangement_agreed", "social_service",
                monthly_amount_cents=self.rent // 4, months=months)
        if breach:
            self.wait(30, 90)
            self.ev("arrangement_breached", "corporation")
            self.wait(20, 60)
            self.ev("tenancy_ended", reason=self.rng.choice(["moved_out", "other"]))
            return
        self.wait(months * 30 * 0.5, months * 30)
        self.paid_off()

    def paid_off(self) -> None:
        self.ev("payment_received", amount_cents=self.rent, arrears_cents=0)
        self.wait(185)  # aftercare runs out: the case closes as resolved

    def care(self) -> None:
        self.wait(5, 20)
        self.ev("mpzo_plan_ready", "mpzo")
        self.wait(3, 15)
        self.ev("care_started", self.rng.choice(["mpzo", "social_team"]),
                by=self.rng.choice(["social_team", "bemoeizorg", "care_provider"]))

    def crisis(self) -> None:
        """Summons to crisis; some parties late on purpose."""
        late = self.rng.random() < 0.25
        self.ev("summons_served", late_days=self.rng.randint(3, 12) if late else None,
                hearing_date=InDays(self.rng.randint(20, 40)))
        self.wait(25, 45)
        granted = self.rng.random() < 0.85
        self.ev("judgment_given", eviction_granted=granted)
        if not granted:
            self.wait(20, 60)
            self.paid_off()
            return
        self.wait(7, 20)
        self.ev("eviction_announced", eviction_date=InDays(self.rng.randint(18, 35)))
        meeting_late = self.rng.random() < 0.2
        self.wait(6, 9) if meeting_late else self.wait(0.2, 1.8)
        outcome = self.rng.choices(["postponement_agreed", "moratorium_needed", "no_solution"],
                                   weights=[40, 35, 25])[0]
        self.ev("crisis_meeting_held", self.rng.choice(["social_service", "corporation"]),
                result=outcome)
        if outcome == "postponement_agreed":
            self.wait(2, 6)
            self.ev("eviction_postponed", new_eviction_date=InDays(self.rng.randint(60, 120)))
            self.wait(20, 60)
            self.paid_off()
        elif outcome == "moratorium_needed":
            self.wait(3, 10)
            self.ev("moratorium_granted", "social_service", until=InDays(self.rng.randint(60, 150)))
            self.wait(30, 90)
            self.paid_off()
        else:
            self.wait(3, 8)
            self.ev("moratorium_rejected", "social_service")
            self.wait(10, 25)
            self.ev("eviction_executed")


def _branch(name: str, rng: random.Random, rent: int) -> list[ScriptStep]:
    s = _Script(rng, rent)
    if name == "concern":
        s.ev("concern_reported", rng.choice(["social_team", "municipality", "mpzo"]),
             kind=rng.choice(["nuisance", "confused_behaviour", "care_and_safety"]))
        s.care()
        s.wait(10, 40)
        s.open_arrears(rng.randint(10, 25))
        if rng.random() < 0.7:
            s.reminder()
        s.wait(30, 90)
        if rng.random() < 0.5:
            s.paid_off()
        else:
            s.ev("case_closed", "operator", reason="zorg overgedragen, geen huurachterstand meer")
        return s.steps
    s.open_arrears(rng.randint(5, 25) if name != "reminder_missing" else rng.randint(5, 15),
                   months=2 if name == "court" and rng.random() < 0.3 else 1)
    match name:
        case "paid_quickly":
            if rng.random() < 0.85:
                s.reminder()
            s.wait(3, 25)
            s.paid_off()
        case "spoor_1":
            s.reminder()
            s.until_signal()
            s.debt_help_to_arrangement(breach=rng.random() < 0.15)
        case "not_taken_up":
            s.reminder()
            s.until_signal()
            refusal = rng.choice(["no_contact", "help_refused", "signal_bounced", None])
            if refusal is None:
                s.wait(29, 31)  # the help-plan deadline passes
            else:
                s.wait(5, 25)
                fields: dict[str, Any] = {"reason": "help_refused_before"} if refusal == "signal_bounced" else {}
                s.ev(refusal, s.helper() if refusal != "signal_bounced" else "municipality",
                     **fields)
            s.care()
            s.wait(40, 120)
            s.paid_off()
        case "reminder_missing":
            s.until_signal()  # the signal waits for the reminder: an escalation
            s.wait(4, 20)
            s.ev("reminder_sent", tenant_objects_to_signal=False)
            s.debt_help_to_arrangement()
        case "objection":
            s.reminder(objects=True)
            s.wait_until(62)  # two months: the MPZO is told all the same
            s.care()
            s.wait(30, 100)
            s.paid_off()
        case "self_referral":
            s.wait(1, 10)
            s.ev("self_referral", rng.choice(["social_team", "social_service"]))
            s.debt_help_to_arrangement()
        case "court":
            s.reminder()
            s.until_signal()
            s.wait(29, 31)
            s.ev("arrears_reported", arrears_cents=rent * 3, monthly_rent_cents=rent,
                 arrears_since=InDays(-int(s.age0 + s.day)))
            s.care()
            s.wait(20, 60)
            s.crisis()
        case "help_after_summons":
            s.reminder()
            s.until_signal()
            s.wait(29, 31)
            s.wait(20, 50)
            s.ev("summons_served", hearing_date=InDays(rng.randint(20, 40)))
            s.wait(3, 15)
            s.ev("help_accepted", s.helper())
            s.wait(5, 15)
            s.ev("payment_arrangement_agreed", "social_service",
                 monthly_amount_cents=rent // 4, months=rng.randint(6, 12))
            s.wait(60, 150)
            s.paid_off()
        case "moved_out":
            s.reminder()
            s.until_signal()
            s.wait(5, 20)
            s.ev("help_refused", s.helper())
            s.wait(30, 80)
            s.ev("tenancy_ended", reason="moved_out")
        case "withdrawn":
            s.wait(2, 20)
            s.ev("case_closed", "operator", reason="dubbel gemeld, samengevoegd met ander dossier")
    return s.steps


CLOSING_EVENTS = frozenset({"eviction_executed", "tenancy_ended", "case_closed"})


def _merge_waits(steps: list[ScriptStep]) -> list[ScriptStep]:
    """Consecutive waits as one fast-forward; nothing after an event that closes the case."""
    out: list[ScriptStep] = []
    for step in steps:
        if isinstance(step, Wait) and out and isinstance(out[-1], Wait):
            out[-1] = Wait(out[-1].duration + step.duration)
        else:
            out.append(step)
        if isinstance(step, Send) and step.event in CLOSING_EVENTS:
            break
    return out


@dataclass
class RegionPlan:
    scenarios: list[Scenario]

    def mix(self) -> Counter[str]:
        return Counter(s.name for s in self.scenarios)


def plan_region(region: Region, *, tenancies: int, months: int, seed: int, tag: str) -> RegionPlan:
    """`tenancies` cases, each a branch of the flowchart, seen after up to `months` of its life."""
    rng = random.Random(seed)
    known = set(region.municipalities)
    scenarios = []
    for n in range(1, tenancies + 1):
        municipality = _pick(rng, {m: w for m, w in MUNICIPALITY_WEIGHTS.items() if m in known})
        corporations = {c: w for c, w in CORPORATIONS_BY_MUNICIPALITY.get(municipality, {}).items()
                        if c in region.corporations} or {c: 1 for c in region.corporations}
        corporation = _pick(rng, corporations)
        branch = _pick(rng, BRANCH_WEIGHTS)
        rent = rng.randrange(55_000, 95_000, 500)
        steps = _merge_waits(_branch(branch, rng, rent))
        # Skewed towards younger cases, so the early stages are well represented too.
        life = timedelta(days=max(1.0, rng.random() ** 1.6 * months * 30.5))
        scenario = Scenario(branch, corporation, municipality, f"{tag}-{n:04d}", steps)
        scenarios.append(scenario.truncated(life))
    return RegionPlan(scenarios)
