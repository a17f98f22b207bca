"""Policy values (RULES §2): defaults, layered overrides, validation at load, and their effect on
a case's deadlines."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from vangnet.domain import Stage
from vangnet.policy import Policy, PolicyFile
from vangnet.rules import (
    AFTERCARE_END,
    COLLECTION_PAUSE_END,
    CRISIS_MEETING_DEADLINE,
    EARLY_SIGNAL_DUE,
    HELP_PLAN_DEADLINE,
    MPZO_MONTHS_THRESHOLD,
)

from .helpers import RENT, CaseDriver, act, ams, midnight, open_with_arrears, shape, to_utc

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_the_rules_md_values():
    assert Policy().model_dump() == {
        "early_signal_after_days": 30,
        "help_plan_deadline_days": 28,
        "collection_pause_days": 30,
        "mpzo_after_months": 2,
        "crisis_response_working_days": 3,
        "aftercare_months": 6,
        "relapse_window_months": 12,
    }


def test_the_shipped_policy_file_is_the_defaults():
    policy_file = PolicyFile.load(REPO / "config" / "policy.toml")
    assert policy_file.resolve("woonbron", "dordrecht") == Policy()
    assert policy_file.resolve("poort6", "gorinchem") == Policy()


@pytest.mark.parametrize(
    "values",
    [{"early_signal_after_days": 0}, {"help_plan_deadline_days": -1},
     {"collection_pause_days": "thirty"}, {"mpzo_after_months": 121},
     {"crisis_response_working_days": 0}, {"aftercare_months": 1.5},
     {"relapse_window_months": None}, {"early_signal_days": 30}],
)
def test_invalid_policy_values_are_rejected(values):
    with pytest.raises(ValidationError):
        Policy(**values)


def test_policy_is_frozen():
    with pytest.raises(ValidationError):
        Policy().aftercare_months = 3  # type: ignore[misc]


LAYERED = """
[defaults]
help_plan_deadline_days = 21

[municipality.gorinchem]
help_plan_deadline_days = 14
collection_pause_days = 45
crisis_response_working_days = 5

[corporation.poort6]
collection_pause_days = 60

[pair."poort6/gorinchem"]
aftercare_months = 3
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_layers_and_precedence(tmp_path):
    pf = PolicyFile.load(write(tmp_path, LAYERED))
    # defaults only
    assert pf.resolve("woonbron", "dordrecht") == Policy(help_plan_deadline_days=21)
    # municipality over defaults
    assert pf.resolve("woonbron", "gorinchem") == Policy(
        help_plan_deadline_days=14, collection_pause_days=45, crisis_response_working_days=5)
    # corporation over municipality; the municipality's other values stay
    assert pf.resolve("poort6", "gorinchem") == Policy(
        help_plan_deadline_days=14, collection_pause_days=60, crisis_response_working_days=5,
        aftercare_months=3)
    # corporation alone elsewhere
    assert pf.resolve("poort6", "dordrecht") == Policy(
        help_plan_deadline_days=21, collection_pause_days=60)


@pytest.mark.parametrize(
    "text",
    [
        "[municipality.gorinchem]\nhelp_plan_deadline_days = 0\n",
        "[corporation.poort6]\ncollection_pause_days = -5\n",
        "[corporation.poort6]\ncollection_pause_days = \"45\"x\n",  # not TOML
        "[corporation.poort6]\ncolection_pause_days = 45\n",  # typo in a name
        "[defaults]\nmpzo_after_months = 0\n",
        "[pair.\"poort6/gorinchem\"]\naftercare_months = 999\n",
        "[municipalities.gorinchem]\naftercare_months = 3\n",  # unknown section
        "[municipality.gorinchem]\ncrisis_response_working_days = 61\n",
    ],
)
def test_invalid_files_are_rejected_at_load(tmp_path, text):
    with pytest.raises(Exception) as info:
        PolicyFile.load(write(tmp_path, text))
    assert isinstance(info.value, (ValidationError, ValueError))


# -- the rules follow the case's policy ------------------------------------------------------------


def test_rules_use_the_overridden_values(tmp_path):
    policy = PolicyFile.load(write(tmp_path, """
[municipality.dordrecht]
early_signal_after_days = 14
help_plan_deadline_days = 21
collection_pause_days = 45
mpzo_after_months = 3

[corporation.woonbron]
crisis_response_working_days = 5
aftercare_months = 3
""")).resolve("woonbron", "dordrecht")
    case = CaseDriver.dordrecht(policy=policy)
    open_with_arrears(case, at=ams(2025, 3, 2, 9), since=date(2025, 3, 1), months=2.5)
    # 2.5 months' rent is under the 3-month threshold
    assert "mpzo_notified" not in case.action_names()
    assert case.deadlines == {EARLY_SIGNAL_DUE: midnight(date(2025, 3, 15)),
                              MPZO_MONTHS_THRESHOLD: midnight(date(2025, 6, 1))}
    case.send("reminder_sent", at=ams(2025, 3, 3), tenant_objects_to_signal=False)
    assert shape(case.advance_to(midnight(date(2025, 3, 15)))) == [
        act("early_signal_submitted", "municipality")]
    assert case.deadlines[HELP_PLAN_DEADLINE] == to_utc(midnight(date(2025, 3, 15))) + timedelta(
        days=21)
    help_at = ams(2025, 3, 20, 10)
    case.send("help_accepted", at=help_at)
    assert case.deadlines == {COLLECTION_PAUSE_END: to_utc(help_at) + timedelta(days=45)}
    # Thursday 12 June + 5 working days (Fri 13, Mon 16 .. Thu 19) -> Friday 20 June 00:00
    case.send("eviction_announced", at=ams(2025, 6, 12, 10), eviction_date="2025-07-12")
    assert case.deadlines[CRISIS_MEETING_DEADLINE] == midnight(date(2025, 6, 20))
    case.send("payment_received", at=ams(2025, 6, 13, 10), amount_cents=2 * RENT, arrears_cents=0)
    assert case.deadlines == {AFTERCARE_END: midnight(date(2025, 9, 13))}
    assert case.stage == Stage.aftercare
    # the case states the values it runs under
    assert case.status()["policy"] == policy.model_dump()
    assert case.status()["policy"]["aftercare_months"] == 3


def test_size_threshold_follows_policy():
    case = CaseDriver.dordrecht(policy=Policy(mpzo_after_months=1))
    step = open_with_arrears(case, at=ams(2025, 3, 2, 9), since=date(2025, 3, 1), months=1)
    assert shape(step.actions) == [act("tenant_notice_sent", "corporation"),
                                   act("mpzo_notified", "mpzo", reason="arrears_months")]
