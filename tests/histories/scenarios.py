"""The full-lifecycle cases behind the replay fixtures in this folder (one JSON file per run).

Each covers a path of the flowchart; some keep the agreement and some break it on purpose (a party
that reports late or never), so the audit tests have known verdicts. Regenerate the files with

    VANGNET_REGENERATE_HISTORIES=1 .venv/bin/python -m pytest tests/histories -q

after a change to the workflow that new cases should be replayed against (old files stay
valuable: they prove that histories written by earlier code still replay).
"""

from __future__ import annotations

from vangnet.scenarios import InDays, Scenario, send, wait


def _s(name: str, corporation: str, municipality: str, steps, history_limit=None,
       **options) -> Scenario:
    return Scenario(name, corporation, municipality, f"H-{name.replace('_', '-')}", steps,
                    history_limit, **options)


SCENARIOS: list[Scenario] = [
    # Spoor 1 to resolved, through a pair without RIS (the alternative channel): keeps the agreement.
    _s("spoor1_resolved", "heerjansdam", "hendrik-ido-ambacht", [
        send("arrears_reported", arrears_cents=80_000, monthly_rent_cents=80_000,
             arrears_since=InDays(-10)),
        wait(days=2), send("reminder_sent", tenant_objects_to_signal=False),
        wait(days=19),  # the early signal goes at 30 days of arrears
        wait(days=7), send("help_accepted", "social_team"),
        wait(days=5), send("debt_help_started", "social_service"),
        wait(days=10), send("payment_arrangement_agreed", "social_service",
                            monthly_amount_cents=20_000, months=4),
        wait(days=100), send("payment_received", amount_cents=20_000, arrears_cents=0),
        wait(days=190),  # aftercare runs out: resolved
    ]),
    # MPZO via a summons served during debt help, reported 9 days after it was served: late.
    _s("mpzo_summons_late", "trivire", "papendrecht", [
        send("arrears_reported", arrears_cents=70_000, monthly_rent_cents=70_000,
             arrears_since=InDays(-5)),
        wait(days=1), send("reminder_sent", tenant_objects_to_signal=False),
        wait(days=25),
        wait(days=10), send("help_accepted", "municipality"),
        wait(days=4), send("debt_help_started", "social_service"),
        wait(days=30), send("summons_served", late_days=9, hearing_date=InDays(30)),
        wait(days=35), send("judgment_given", eviction_granted=False),
        wait(days=10), send("payment_arrangement_agreed", "social_service",
                            monthly_amount_cents=17_500, months=6),
    ]),
    # Crisis with a moratorium; the crisis meeting is held a week after the announcement: late.
    _s("crisis_moratorium", "poort6", "gorinchem", [
        send("arrears_reported", arrears_cents=180_000, monthly_rent_cents=90_000,
             arrears_since=InDays(-20)),
        wait(days=1), send("reminder_sent", tenant_objects_to_signal=False),
        wait(days=10),
        wait(days=20), send("no_contact", "social_team"),
        wait(days=30), send("summons_served", hearing_date=InDays(28)),
        wait(days=30), send("judgment_given", eviction_granted=True),
        wait(days=10), send("eviction_announced", eviction_date=InDays(25)),
        wait(days=7), send("crisis_meeting_held", "social_service", result="moratorium_needed"),
        wait(days=2), send("moratorium_granted", "social_service", until=InDays(90)),
        wait(days=30), send("payment_received", amount_cents=270_000, arrears_cents=0),
    ]),
    # Evicted: the tenant objected to the signal, the months rule tells the MPZO; no crisis
    # meeting is ever held (escalated), then the eviction goes ahead: the meeting was missed.
    _s("evicted", "woonkracht10", "zwijndrecht", [
        send("arrears_reported", arrears_cents=75_000, monthly_rent_cents=75_000,
             arrears_since=InDays(-15)),
        wait(days=1), send("reminder_sent", tenant_objects_to_signal=True),
        wait(days=47),  # two months of arrears: MPZO
        wait(days=20), send("summons_served", hearing_date=InDays(28)),
        wait(days=30), send("judgment_given", eviction_granted=True),
        wait(days=10), send("eviction_announced", eviction_date=InDays(14)),
        wait(days=15), send("eviction_executed"),
    ]),
    # No reminder at the threshold (escalated); it comes 12 days later, so the signal is late.
    # Help is accepted but debt help never starts: the pause runs out (R4); the tenant moves out.
    _s("reminder_missing", "tablis-wonen", "sliedrecht", [
        send("arrears_reported", arrears_cents=65_000, monthly_rent_cents=65_000,
             arrears_since=InDays(-10)),
        wait(days=20, hours=12),
        wait(days=12), send("reminder_sent", tenant_objects_to_signal=False),
        wait(days=5), send("help_accepted", "social_team"),
        wait(days=31),
        wait(days=10), send("tenancy_ended", reason="moved_out"),
    ]),
    # A long arrangement with monthly payments and a small history limit: continue-as-new.
    _s("continue_as_new", "kleurrijkwonen", "molenlanden", [
        send("arrears_reported", arrears_cents=160_000, monthly_rent_cents=80_000,
             arrears_since=InDays(-3)),
        wait(days=1), send("reminder_sent", tenant_objects_to_signal=False),
        wait(days=27),
        wait(days=6), send("help_accepted", "social_service"),
        wait(days=3), send("debt_help_started", "social_service"),
        wait(days=7), send("payment_arrangement_agreed", "social_service",
                           monthly_amount_cents=20_000, months=8),
        *[step for n in range(1, 8) for step in (
            wait(days=30),
            send("payment_received", amount_cents=20_000, arrears_cents=160_000 - n * 20_000),
        )],
        wait(days=30), send("payment_received", amount_cents=20_000, arrears_cents=0),
    ], history_limit=120),
    # RULES §11 A2 (and A1, A3): debt help starts, the tenant drops out; collection resumes, the
    # arrears are past two months so the MPZO hears at once (help_ended); its plan comes late.
    _s("debt_help_dropped_out", "woonbron", "dordrecht", [
        send("arrears_reported", arrears_cents=85_000, monthly_rent_cents=85_000,
             arrears_since=InDays(-10)),
        wait(days=2), send("reminder_sent", tenant_objects_to_signal=False),
        wait(days=19),  # the early signal goes at 30 days of arrears (A9: partners told)
        wait(days=5), send("help_accepted", "municipality"),
        wait(days=3), send("debt_help_started", "social_service"),  # A3: while debt help runs
        wait(days=20), send("progress_reported", "social_team"),  # A1: the review clock re-arms
        wait(days=15), send("debt_help_ended", "social_service", reason="dropped_out"),  # A2
        wait(days=16),  # A1: no plan from the MPZO within 10 working days: escalated
        send("mpzo_plan_ready", "mpzo"),
        wait(days=30), send("tenancy_ended", reason="moved_out"),
    ]),
    # RULES §11 A4: an eviction announced during aftercare is a crisis; a postponement to a new
    # date after the meeting gets a new crisis response; the moratorium's end is escalated and the
    # next date answered; the date passes with no outcome reported (A1).
    _s("aftercare_eviction", "fien-wonen", "gorinchem", [
        send("arrears_reported", arrears_cents=70_000, monthly_rent_cents=70_000,
             arrears_since=InDays(-5)),
        wait(days=3), send("payment_received", amount_cents=70_000, arrears_cents=0),
        wait(days=20), send("eviction_announced", eviction_date=InDays(30)),
        wait(days=2), send("crisis_meeting_held", "social_service", result="postponement_agreed"),
        wait(days=10), send("eviction_postponed", new_eviction_date=InDays(45)),
        wait(days=2), send("crisis_meeting_held", "corporation", result="moratorium_needed"),
        wait(days=5), send("moratorium_granted", "social_service", until=InDays(60)),
        wait(days=61),  # the moratorium ends: escalated, the case stays in crisis
        send("eviction_announced", eviction_date=InDays(20)),
        wait(days=3), send("crisis_meeting_held", "social_service", result="no_solution"),
        wait(days=25),  # two days after the date, nothing reported: escalated to the corporation
        send("tenancy_ended", reason="other"),
    ]),
    # RULES §11 A7 (and A5): evicted while a granted moratorium runs: closed as evicted, and the
    # breach escalated to the social service and the MPZO.
    _s("moratorium_breached", "lek-en-waard-wonen", "molenlanden", [
        send("arrears_reported", arrears_cents=200_000, monthly_rent_cents=100_000,
             arrears_since=InDays(-70)),
        wait(days=1), send("summons_served", hearing_date=InDays(21)),
        wait(days=21), send("judgment_given", eviction_granted=True),
        wait(days=5), send("eviction_announced", eviction_date=InDays(14)),
        wait(days=1), send("crisis_meeting_held", "social_service", result="moratorium_needed"),
        wait(days=3), send("moratorium_granted", "social_service", until=InDays(90)),
        wait(days=12), send("eviction_executed"),
    ]),
    # RULES §11 A12: an eviction date in the year 9999 and an amount as text are recorded as
    # ignored with the reason; the events after them are applied as usual.
    _s("bad_input", "woonzorg-nederland", "papendrecht", [
        send("arrears_reported", arrears_cents=60_000, monthly_rent_cents=60_000,
             arrears_since=InDays(-3)),
        wait(days=1), send("eviction_announced", eviction_date="9999-12-31"),
        wait(days=1), send("payment_received", amount_cents="60000", arrears_cents=0),
        wait(days=1), send("reminder_sent", tenant_objects_to_signal=False),
        wait(days=1), send("payment_received", amount_cents=60_000, arrears_cents=0),
        wait(days=2),
    ]),
    # Nuisance reported: after the crisis meeting no moratorium may be asked, an escalation instead.
    _s("nuisance_no_moratorium", "rhiant", "alblasserdam", [
        send("concern_reported", "social_team", kind="nuisance"),
        wait(days=5), send("arrears_reported", arrears_cents=60_000, monthly_rent_cents=60_000,
                           arrears_since=InDays(-10)),
        wait(days=1), send("reminder_sent", tenant_objects_to_signal=False),
        wait(days=20),
        wait(days=5), send("help_refused", "social_team"),
        wait(days=30), send("summons_served", hearing_date=InDays(30)),
        wait(days=30), send("judgment_given", eviction_granted=True),
        wait(days=10), send("eviction_announced", eviction_date=InDays(20)),
        wait(days=1), send("crisis_meeting_held", "social_service", result="no_solution"),
        wait(days=9), send("tenancy_ended", reason="moved_out"),
    ]),
    # Through the intake's door (RULES §12): every event by the update submit_event, the first by
    # update-with-start; one the case ignores (the MPZO's plan before it was told), the rest applied.
    _s("intake_updates", "fien-wonen", "gorinchem", [
        send("arrears_reported", arrears_cents=70_000, monthly_rent_cents=70_000,
             arrears_since=InDays(-5)),
        wait(days=1), send("mpzo_plan_ready", "mpzo"),
        wait(days=1), send("reminder_sent", tenant_objects_to_signal=False),
        wait(days=24),
        wait(days=3), send("help_accepted", "municipality"),
        wait(days=2), send("payment_received", amount_cents=70_000, arrears_cents=0),
    ], via="update"),
    # A long case through the intake with a small timeline limit: the oldest entries go to the case
    # store (patch intake-keeps-its-word-v1), and the count of them rides along continue-as-new.
    _s("long_timeline", "lek-en-waard-wonen", "molenlanden", [
        send("arrears_reported", arrears_cents=900_000, monthly_rent_cents=9_000_000,
             arrears_since=InDays(-1)),
        *[send("payment_received", amount_cents=100, arrears_cents=900_000 - n * 100)
          for n in range(1, 25)],
    ], history_limit=70, via="update", timeline_limit=6),
]

BY_NAME = {s.name: s for s in SCENARIOS}


# Issue 10: a case whose corporation has a webhook. Its messages are pushed by the outbox
# dispatcher, never by the case (patch webhooks-outbox-v1): recorded into webhooks/ by
# test_regenerate.py with woonbron's webhook set, replayed by tests/replay.
WEBHOOK_SCENARIO = _s("webhook_outbox", "woonbron", "zwijndrecht", [
    send("arrears_reported", arrears_cents=60_000, monthly_rent_cents=60_000,
         arrears_since=InDays(-10)),
    wait(days=2), send("reminder_sent", tenant_objects_to_signal=False),
    wait(days=3), send("tenancy_ended", reason="moved_out"),
])
