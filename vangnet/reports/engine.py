"""The figures of the reports for the Adviesgroep Preventie Huisuitzetting, computed from the case
store (vangnet/reports/data.py), in Dutch.

Two kinds, one engine:
- `monitoring` (the quarterly report): the chain as a funnel, MPZO reports by reason, crises and
  the crisis meeting within its working-day deadline, moratoria, evictions announced and executed,
  lead times between the chain's steps, escalations by reason, open cases by stage at the end of
  the period, and per obligation and party how the agreement was kept;
- `naleving` (the annual account, "verantwoording naleving"): per party and per obligation how the
  agreement was kept, with the cases behind each missed obligation (by case id only).

Definitions (every table states its own):
- A moment belongs to the period by the Dutch day on which vangnet recorded it (a timeline's `at`);
  everything is counted as the case store knew it at the end of the period (timelines cut there),
  so a report on a past period comes out the same whenever it is made.
- The chain of one episode: *signaal* = the first early signal (`early_signal_submitted`) or
  self-referral (`self_referral`); *contact* = the first answer of the municipality or its
  partners at or after it (`help_accepted`, `help_refused`, `debt_help_started`,
  `payment_arrangement_agreed`; a self-referral is contact itself); *hulp geaccepteerd* =
  `help_accepted`, `debt_help_started` or `payment_arrangement_agreed`; *regeling* =
  `payment_arrangement_agreed`; *opgelost* = the arrears cleared (`aftercare_started`, R10; the
  outcome `resolved` follows after the aftercare). The funnel follows the episodes whose signal
  fell in the period (a cohort); lead times count the steps reached in the period.
- Compliance comes from `vangnet.audit.compliance.check` on the timeline cut at the period's end:
  every obligation that fell due in the period, by obligation and responsible party, one column
  per verdict the module knows (`compliance.VERDICTS`), so obligations and verdicts it adds later
  appear here without a change.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vangnet import texts
from vangnet.audit import compliance
from vangnet.audit.references import parse_time
from vangnet.reports.data import EpisodeData
from vangnet.reports.period import Period

SMALL = 5  # counts 1..SMALL-1 are suppressed in what leaves the region's operators

# ---------------------------------------------------------------------------------------------
# Cells and tables
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """A percentage, shown only when neither of its counts is suppressed."""

    num: int
    den: int


@dataclass(frozen=True)
class Days:
    """A number of days over `n` observations (suppressed below SMALL observations)."""

    value: float | None
    n: int


@dataclass
class Column:
    label: str
    kind: str = "count"  # text | count | share | days


@dataclass
class Chart:
    kind: str  # barh | bar | stacked
    title: str
    label_column: int = 0
    value_columns: list[int] = field(default_factory=lambda: [1])


@dataclass
class Table:
    key: str  # sheet and file name (at most 31 characters)
    title: str
    columns: list[Column]
    rows: list[list[Any]]
    note: str = ""
    chart: Chart | None = None
    internal_only: bool = False  # left out of the suppressed (public) outputs


@dataclass
class Report:
    kind: str
    title: str
    period: Period
    scope: str
    generated_at: datetime
    tables: list[Table]
    episodes: int
    incomplete: list[str] = field(default_factory=list)  # case ids without an archived timeline
    snapshot_note: str = ""


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------

VERDICT_LABELS = {
    "met": "op tijd", "late": "te laat", "missed": "gemist", "overdue": "over termijn (loopt)",
    "pending": "termijn loopt",
}
OBLIGATION_LABELS = {
    "tenant_notice": "Brief aan huurder bij melding achterstand",
    "early_signal": "Vroegsignalering op tijd",
    "municipality_response": "Reactie gemeente binnen termijn hulpplan",
    "collection_paused": "Incasso stilgezet na hulp",
    "casusregie": "Casusregie naar sociaal team",
    "postponement_consultation": "Overleg uitstel ontruiming na hulp",
    "aftercare_start": "Nazorg bij ingelopen achterstand",
    "aftercare_completion": "Nazorg afgerond, casus opgelost",
    "pause_expiry": "Incasso hervat na verlopen pauze",
    "collection_resumed": "Incasso hervat na niet nagekomen regeling",
    "crisis_protocol": "Crisisprotocol op dag van aanzegging",
    "crisis_meeting": "Crisisoverleg binnen werkdagentermijn",
    "crisis_escalation": "Escalatie bij te laat crisisoverleg",
    "moratorium_excluded": "Escalatie i.p.v. moratorium (overlast)",
    "moratorium_request": "Moratorium aangevraagd na crisisoverleg",
    "close": "Casus gesloten en partijen geïnformeerd",
    # escalations the agreement asks for, and RULES §11 (A1-A9)
    "reminder_escalation": "Escalatie bij ontbrekende aanmaning",
    "pause_escalation": "Escalatie bij verlopen incassopauze",
    "relapse_escalation": "Escalatie bij nieuwe achterstand tijdens nazorg",
    "signal_partners_told": "Sociale dienst en sociaal team geïnformeerd over signaal (A9)",
    "mpzo_social_team_told": "Sociaal team geïnformeerd over spoor 2 (A9)",
    "care_consultation": "Overleg uitstel ontruiming na start zorg (A9)",
    "referral_forwarded": "Zelfmelding doorgestuurd naar sociale dienst (A9)",
    "pause_extended": "Corporatie geïnformeerd over verlengde incassopauze (A3)",
    "help_ended_collection": "Incasso hervat na beëindigde hulp (A2)",
    "case_review": "Voortgang gemeld binnen reviewtermijn (A1)",
    "case_review_escalation": "Escalatie bij uitblijvende voortgang (A1)",
    "mpzo_plan": "Plan MPZO binnen werkdagentermijn (A1)",
    "mpzo_plan_escalation": "Escalatie bij te laat plan MPZO (A1)",
    "eviction_outcome": "Uitkomst ontruiming gemeld binnen termijn (A1)",
    "eviction_outcome_escalation": "Escalatie bij onbekende uitkomst ontruiming (A1)",
    "moratorium_ended": "Escalatie bij einde moratorium (A4)",
    "moratorium_breached": "Escalatie bij ontruiming tijdens moratorium (A7)",
}
PARTY_LABELS = {compliance.VANGNET: "vangnet (automatisch)"}
CHAIN = ("signaal", "contact", "hulp", "regeling", "opgelost")
CHAIN_LABELS = {
    "signaal": "Signaal (vroegsignalering of zelfmelding)",
    "contact": "Contact gemeente of partner",
    "hulp": "Hulp geaccepteerd",
    "regeling": "Betalingsregeling",
    "opgelost": "Achterstand opgelost (nazorg)",
}
CONTACT_EVENTS = frozenset({"help_accepted", "help_refused", "debt_help_started",
                            "payment_arrangement_agreed"})
HELP_EVENTS = frozenset({"help_accepted", "debt_help_started", "payment_arrangement_agreed"})
LEAD_TIMES = (("signaal", "contact"), ("contact", "hulp"), ("hulp", "regeling"),
              ("regeling", "opgelost"), ("signaal", "opgelost"))
STAGE_ORDER = ("arrears", "early_signal", "debt_help", "arrangement", "care", "crisis", "aftercare")
OUTCOME_ORDER = ("resolved", "evicted", "tenancy_ended", "withdrawn")


def obligation_label(key: str, title: str) -> str:
    if key.startswith("mpzo:"):
        reason = key.split(":", 1)[1]
        return f"Melding MPZO: {texts.REASON.get(reason, reason.replace('_', ' '))}"
    return OBLIGATION_LABELS.get(key, title)  # a new obligation: its own title until it has one


def party_label(code: str) -> str:
    return PARTY_LABELS.get(code, code)


def verdict_label(verdict: str) -> str:
    return VERDICT_LABELS.get(verdict, verdict)


# ---------------------------------------------------------------------------------------------
# Reading an episode
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    at: datetime
    category: str
    kind: str
    detail: dict[str, Any]


def entries_of(ep: EpisodeData, end: datetime) -> list[Entry]:
    """The episode's timeline up to (not including) `end`."""
    out = []
    for raw in ep.timeline or []:
        at = parse_time(raw["at"])
        if at < end:
            out.append(Entry(at, raw["category"], raw["kind"], dict(raw.get("detail") or {})))
    return out


def chain_moments(entries: list[Entry]) -> dict[str, datetime]:
    """When the episode first reached each step of the chain (see the module docstring)."""
    signal = next((e for e in entries if (e.category == "action" and e.kind == "early_signal_submitted")
                   or (e.category == "event" and e.kind == "self_referral")), None)
    if signal is None:
        return {}
    out = {"signaal": signal.at}

    def first(category: str, kinds: Iterable[str]) -> datetime | None:
        kinds = set(kinds)
        return next((e.at for e in entries
                     if e.category == category and e.kind in kinds and e.at >= signal.at), None)

    contact = signal.at if signal.kind == "self_referral" else first("event", CONTACT_EVENTS)
    steps = {"contact": contact, "hulp": first("event", HELP_EVENTS),
             "regeling": first("event", ["payment_arrangement_agreed"]),
             "opgelost": first("action", ["aftercare_started"])}
    out.update({k: v for k, v in steps.items() if v is not None})
    return out


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


@dataclass
class _Ep:
    data: EpisodeData
    entries: list[Entry]
    findings: list[compliance.Finding]


def _prepare(episodes: list[EpisodeData], period: Period) -> list[_Ep]:
    end = period.end_at
    out = []
    for ep in episodes:
        if ep.opened_at is None or ep.opened_at >= end:
            continue
        entries = entries_of(ep, end)
        # An open case is judged as of its snapshot when that lies before the period's end: what
        # fell due after it is still pending, not overdue.
        as_of = end - timedelta(seconds=1)
        known = ep.known_until()
        if known is not None:
            as_of = min(as_of, known)
        findings = compliance.check(ep.state_until(end), as_of) if ep.timeline else []
        out.append(_Ep(ep, entries, findings))
    return out


def _in(period: Period, moment: datetime | None) -> bool:
    return moment is not None and period.contains(moment)


def build_report(episodes: list[EpisodeData], period: Period, kind: str = "monitoring", *,
                 scope: str = "regio Drechtsteden en Alblasserwaard",
                 generated_at: datetime | None = None) -> Report:
    from datetime import UTC

    eps = _prepare(episodes, period)
    if kind == "naleving":
        title = f"Verantwoording naleving werkafspraken preventie huisuitzetting {period.label}"
        tables = [_summary(eps, period), *_compliance_tables(eps, period, annual=True)]
    elif kind == "monitoring":
        title = f"Monitoring preventie huisuitzetting {period.label}"
        tables = [_summary(eps, period), _funnel(eps, period), _lead_times(eps, period),
                  _by_reason(eps, period, "mpzo_notified", "mpzo", "Meldingen MPZO naar reden",
                             "Meldingen aan het MPZO (R5) in de periode, naar reden."),
                  _crisis(eps, period), _moratoria(eps, period), _evictions(eps, period),
                  _by_reason(eps, period, "escalation_raised", "escalaties",
                             "Escalaties naar reden",
                             "Escalaties (een termijn verstreek zonder dat iets gebeurde) in de "
                             "periode, naar reden."),
                  _open_by_stage(eps, period),
                  *_compliance_tables(eps, period, annual=False)]
    else:
        raise ValueError(f"unknown report kind {kind!r}")
    snapshots = sum(1 for e in eps if e.data.snapshot)
    return Report(
        kind=kind, title=title, period=period, scope=scope,
        generated_at=generated_at or datetime.now(UTC), tables=tables, episodes=len(eps),
        incomplete=sorted(e.data.case_id for e in eps if e.data.timeline is None),
        snapshot_note=(f"{snapshots} open casussen met een momentopname van hun tijdlijn "
                       "(gemaakt vlak voor dit rapport)") if snapshots else "",
    )


def _summary(eps: list[_Ep], period: Period) -> Table:
    end = period.end_at
    opened = sum(1 for e in eps if _in(period, e.data.opened_at))
    active = sum(1 for e in eps if e.data.closed_at is None or e.data.closed_at >= period.start_at)
    closed = Counter(e.data.outcome for e in eps if _in(period, e.data.closed_at))
    rows: list[list[Any]] = [
        ["Casussen geopend in de periode", opened],
        ["Casussen actief in de periode", active],
        *[[f"Gesloten in de periode: {texts.OUTCOME.get(o, o)}", closed.get(o, 0)]
          for o in OUTCOME_ORDER],
        ["Open aan het eind van de periode", sum(1 for e in eps if e.data.open_at(end))],
    ]
    return Table("samenvatting", "Samenvatting", [Column("", "text"), Column("aantal")], rows,
                 "Casussen zijn episodes: nieuwe achterstand na sluiting opent een nieuwe casus "
                 "onder hetzelfde casusnummer.")


def _funnel(eps: list[_Ep], period: Period) -> Table:
    counts: Counter[str] = Counter()
    for e in eps:
        moments = chain_moments(e.entries)
        if not _in(period, moments.get("signaal")):
            continue
        for step in CHAIN:
            if step in moments:
                counts[step] += 1
    base = counts["signaal"]
    rows = [[CHAIN_LABELS[s], counts[s], Share(counts[s], base)] for s in CHAIN]
    return Table("keten", "De keten: van signaal tot opgelost",
                 [Column("stap", "text"), Column("casussen"), Column("% van signalen", "share")],
                 rows,
                 "Casussen met hun eerste signaal (vroegsignalering of zelfmelding) in de periode, "
                 "en welke stap elk uiterlijk aan het eind van de periode bereikte. Opgelost: "
                 "achterstand ingelopen (start nazorg, R10).",
                 Chart("barh", "De keten (casussen met een signaal in de periode)"))


def _lead_times(eps: list[_Ep], period: Period) -> Table:
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    for e in eps:
        moments = chain_moments(e.entries)
        for a, b in LEAD_TIMES:
            if a in moments and b in moments and _in(period, moments[b]):
                samples[(a, b)].append((moments[b] - moments[a]).total_seconds() / 86400)
    rows = []
    for a, b in LEAD_TIMES:
        values = samples[(a, b)]
        rows.append([f"{CHAIN_LABELS[a]} → {CHAIN_LABELS[b]}", len(values),
                     Days(percentile(values, 0.5), len(values)),
                     Days(percentile(values, 0.9), len(values))])
    return Table("doorlooptijden", "Doorlooptijden tussen de stappen van de keten",
                 [Column("overgang", "text"), Column("casussen"), Column("mediaan (dagen)", "days"),
                  Column("p90 (dagen)", "days")], rows,
                 "Dagen tussen twee stappen, voor de casussen die de tweede stap in de periode "
                 "bereikten. p90: 90% van de casussen was sneller.")


def _by_reason(eps: list[_Ep], period: Period, action: str, key: str, title: str,
               note: str) -> Table:
    counts = Counter(entry.detail.get("reason") or "?" for e in eps for entry in e.entries
                     if entry.category == "action" and entry.kind == action and _in(period, entry.at))
    rows = [[texts.REASON.get(r, r.replace("_", " ")), n] for r, n in
            sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    rows.append(["Totaal", sum(counts.values())])
    return Table(key, title, [Column("reden", "text"), Column("aantal")], rows, note,
                 Chart("barh", title) if counts else None)


def _crisis_findings(eps: list[_Ep], period: Period) -> Counter[str]:
    return Counter(f.verdict for e in eps for f in e.findings
                   if f.obligation == "crisis_meeting" and _in(period, f.trigger_at))


def _crisis(eps: list[_Ep], period: Period) -> Table:
    crises = sum(1 for e in eps for entry in e.entries
                 if entry.category == "action" and entry.kind == "crisis_protocol_invoked"
                 and _in(period, entry.at))
    verdicts = _crisis_findings(eps, period)
    decided = sum(n for v, n in verdicts.items() if v != compliance.PENDING)
    rows: list[list[Any]] = [["Crises (crisisprotocol gestart)", crises]]
    rows += [[f"Crisisoverleg: {verdict_label(v)}", verdicts.get(v, 0)] for v in compliance.VERDICTS]
    rows.append(["Aandeel crisisoverleg binnen de werkdagentermijn", Share(
        verdicts.get(compliance.MET, 0), decided)])
    return Table("crisis", "Crises en het crisisoverleg",
                 [Column("", "text"), Column("aantal", "mixed")], rows,
                 "Ontruimingen aangezegd in de periode zetten het crisisprotocol in gang (R8); het "
                 "crisisoverleg hoort binnen het aantal werkdagen van het beleid plaats te vinden. "
                 "Het aandeel telt de overleggen waarvan de termijn verstreken is.")


def _count_events(eps: list[_Ep], period: Period, category: str, kind: str) -> int:
    return sum(1 for e in eps for entry in e.entries
               if entry.category == category and entry.kind == kind and _in(period, entry.at))


def _moratoria(eps: list[_Ep], period: Period) -> Table:
    rows = [["Moratorium aangevraagd (art. 287b Fw)",
             _count_events(eps, period, "action", "moratorium_requested")],
            ["Moratorium toegekend", _count_events(eps, period, "event", "moratorium_granted")],
            ["Moratorium afgewezen", _count_events(eps, period, "event", "moratorium_rejected")]]
    return Table("moratoria", "Moratoria", [Column("", "text"), Column("aantal")], rows,
                 "Aanvragen (door vangnet na het crisisoverleg, R9) en besluiten in de periode.")


def _evictions(eps: list[_Ep], period: Period) -> Table:
    announced = executed = prevented = ongoing = 0
    for e in eps:
        first = next((x for x in e.entries if x.category == "event" and x.kind == "eviction_announced"
                      and _in(period, x.at)), None)
        if first is None:
            continue
        announced += 1
        after = [x for x in e.entries if x.at >= first.at]
        if any(x.category == "event" and x.kind == "eviction_executed" for x in after):
            executed += 1
        elif any(x.category == "action" and x.kind in ("aftercare_started", "case_closed")
                 for x in after):
            prevented += 1
        else:
            ongoing += 1
    rows = [["Ontruimingen aangezegd", announced],
            ["waarvan uitgevoerd", executed],
            ["waarvan voorkomen", prevented],
            ["waarvan nog lopend aan het eind van de periode", ongoing],
            ["Ontruimingen uitgevoerd in de periode",
             _count_events(eps, period, "event", "eviction_executed")]]
    return Table("ontruimingen", "Ontruimingen: aangezegd, uitgevoerd, voorkomen",
                 [Column("", "text"), Column("casussen")], rows,
                 "Casussen met een aanzegging in de periode, en hoe die uiterlijk aan het eind van "
                 "de periode afliep: uitgevoerd, voorkomen (achterstand ingelopen of de casus anders "
                 "gesloten) of nog lopend.",
                 Chart("barh", "Ontruimingen", value_columns=[1]))


def _open_by_stage(eps: list[_Ep], period: Period) -> Table:
    end = period.end_at
    counts = Counter(e.data.stage_at(end) or "?" for e in eps if e.data.open_at(end))
    order = [s for s in STAGE_ORDER] + sorted(set(counts) - set(STAGE_ORDER))
    rows = [[texts.STAGE.get(s, s), counts.get(s, 0)] for s in order]
    rows.append(["Totaal", sum(counts.values())])
    return Table("open_per_fase", "Open casussen per fase aan het eind van de periode",
                 [Column("fase", "text"), Column("casussen")], rows,
                 "De fase die de casus op de laatste dag van de periode had (uit de fasen die de "
                 "casus zelf vastlegde).", Chart("bar", "Open casussen per fase"))


def _compliance_tables(eps: list[_Ep], period: Period, *, annual: bool) -> list[Table]:
    findings = [(e.data.case_id, f) for e in eps for f in e.findings
                if period.start <= f.due_day <= period.until]
    verdicts = list(compliance.VERDICTS) + sorted({f.verdict for _, f in findings}
                                                   - set(compliance.VERDICTS))
    labels: dict[str, tuple[str, str]] = {}
    for _, f in findings:
        labels.setdefault(f.obligation, (f.rule, obligation_label(f.obligation, f.title)))

    def rows_by(key) -> list[list[Any]]:
        groups: dict[Any, Counter[str]] = defaultdict(Counter)
        for _, f in findings:
            groups[key(f)][f.verdict] += 1
        rows = []
        for k in sorted(groups, key=lambda k: tuple(str(x) for x in (k if isinstance(k, tuple) else (k,)))):
            c = groups[k]
            total = sum(c.values())
            decided = total - c.get(compliance.PENDING, 0)
            head = list(k) if isinstance(k, tuple) else [k]
            rows.append([*head, *[c.get(v, 0) for v in verdicts], total,
                         Share(c.get(compliance.MET, 0), decided)])
        return rows

    vcols = [Column(verdict_label(v)) for v in verdicts] + [Column("totaal"),
                                                           Column("% op tijd", "share")]
    note = ("Verplichtingen van de werkafspraken die in de periode vervielen (RULES R1–R12), zoals "
            "de casussen ze tot het eind van de periode vastlegden; op tijd = gedaan op of voor de "
            "vervaldag. % op tijd: van de verplichtingen waarvan de termijn verstreken is.")
    detail_rows = [[labels[o][1], labels[o][0], party_label(p), *rest]
                   for o, p, *rest in rows_by(lambda f: (f.obligation, f.responsible))]
    detail = Table("naleving", "Naleving per verplichting en partij",
                   [Column("verplichting", "text"), Column("regel", "text"),
                    Column("verantwoordelijk", "text"), *vcols], detail_rows, note)
    per_obligation = [[labels[o][1], labels[o][0], *rest] for o, *rest in rows_by(lambda f: f.obligation)]
    by_obligation = Table("naleving_verplichting", "Naleving per verplichting",
                          [Column("verplichting", "text"), Column("regel", "text"), *vcols],
                          per_obligation, note,
                          Chart("stacked", "Naleving per verplichting", label_column=0,
                                value_columns=list(range(2, 2 + len(verdicts)))))
    if not annual:
        by_obligation.chart = None
        detail.chart = Chart("stacked", "Naleving per verplichting en partij", label_column=0,
                             value_columns=list(range(3, 3 + len(verdicts))))
        return [detail]
    per_party = [[party_label(p), *rest] for p, *rest in rows_by(lambda f: f.responsible)]
    by_party = Table("naleving_partij", "Naleving per partij",
                     [Column("verantwoordelijk", "text"), *vcols], per_party, note,
                     Chart("stacked", "Naleving per partij", label_column=0,
                           value_columns=list(range(1, 1 + len(verdicts)))))
    missed = sorted((labels[f.obligation][1], party_label(f.responsible), case_id)
                    for case_id, f in findings if f.verdict == compliance.MISSED)
    gemist = Table("gemist", "Gemiste verplichtingen: de casussen",
                   [Column("verplichting", "text"), Column("verantwoordelijk", "text"),
                    Column("casus", "text")], [list(m) for m in missed],
                   "Per gemiste verplichting de casus, alleen bij casusnummer (geen "
                   "persoonsgegevens). Alleen in de interne versie.", internal_only=True)
    return [by_party, by_obligation, detail, gemist]


__all__ = ["Chart", "Column", "Days", "Report", "Share", "SMALL", "Table", "build_report",
           "chain_moments", "entries_of", "obligation_label", "party_label", "percentile",
           "verdict_label"]
