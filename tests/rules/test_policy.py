"""Policy values (RULES §2): defaults, layered overrides, validation at load, and their effect on
a case's deadlines."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from vangnet.domain import Stage
from vangnet.policy import Policy, PolicyError, PolicyFile
from vangnet.rules import (
    AFTERCARE_END,
    CASE_REVIEW_DUE,
    COLLECTION_PAUSE_END,
    CRISIS_MEETING_DEADLINE,
    EARLY_SIGNAL_DUE,
    HELP_PLAN_DEADLINE,
    MPZO_MONTHS_THRESHOLD,
)

from .helpers import (
    RENT,
    SIGNAL_TO,
    CaseDriver,
    act,
    ams,
    midnight,
    mpzo_first,
    open_with_arrears,
    shape,
    to_utc,
)

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
        # RULES §11 A1
        "case_review_days": 90,
        "mpzo_plan_working_days": 10,
        "eviction_outcome_days": 2,
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
crisis_response_working_days = 5

[corporation.poort6]
collection_pause_days = 20

[pair."poort6/gorinchem"]
aftercare_months = 3
collection_pause_days = 25
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
        help_plan_deadline_days=14, crisis_response_working_days=5)
    # corporation and pair over municipality; the municipality's other values stay
    assert pf.resolve("poort6", "gorinchem") == Policy(
        help_plan_deadline_days=14, collection_pause_days=25, crisis_response_working_days=5,
        aftercare_months=3)
    # corporation alone elsewhere
    assert pf.resolve("poort6", "dordrecht") == Policy(
        help_plan_deadline_days=21, collection_pause_days=20)


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
help_plan_deadline_days = 21
crisis_response_working_days = 5
aftercare_months = 3
case_review_days = 60

[corporation.woonbron]
early_signal_after_days = 28
collection_pause_days = 14
mpzo_after_months = 3
""")).resolve("woonbron", "dordrecht")
    case = CaseDriver.dordrecht(policy=policy)
    open_with_arrears(case, at=ams(2025, 3, 2, 9), since=date(2025, 3, 1), months=2.5)
    # 2.5 months' rent is under the 3-month threshold
    assert "mpzo_notified" not in case.action_names()
    assert case.deadlines == {EARLY_SIGNAL_DUE: midnight(date(2025, 3, 29)),
                              MPZO_MONTHS_THRESHOLD: midnight(date(2025, 6, 1))}
    case.send("reminder_sent", at=ams(2025, 3, 3), tenant_objects_to_signal=False)
    assert shape(case.advance_to(midnight(date(2025, 3, 29)))) == [
        act("early_signal_submitted", *SIGNAL_TO)]
    assert case.deadlines[HELP_PLAN_DEADLINE] == to_utc(midnight(date(2025, 3, 29))) + timedelta(
        days=21)
    help_at = ams(2025, 4, 2, 10)
    case.send("help_accepted", at=help_at)
    assert case.deadlines == {COLLECTION_PAUSE_END: to_utc(help_at) + timedelta(days=14),
                              CASE_REVIEW_DUE: to_utc(help_at) + timedelta(days=60)}
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
                                   mpzo_first("arrears_months")]


# -- A10: policy within the agreement ----------------------------------------------------------------

PARTIES = {"dordrecht": "municipality", "gorinchem": "municipality", "woonbron": "corporation",
           "poort6": "corporation", "sdd": "social_service", "mpzo": "mpzo"}


def problems(tmp_path: Path, text: str, parties: dict | None = PARTIES) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        PolicyFile.load(path, parties)
    assert str(path) in str(info.value)  # the error names the file
    return info.value.problems


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("municipality.dordrecht", "early_signal_after_days", 30),
        ("municipality.dordrecht", "collection_pause_days", 20),
        ("municipality.gorinchem", "mpzo_after_months", 3),
        ("corporation.woonbron", "help_plan_deadline_days", 21),
        ("corporation.woonbron", "crisis_response_working_days", 2),
        ("corporation.poort6", "aftercare_months", 3),
        ("corporation.poort6", "relapse_window_months", 6),
        ("corporation.poort6", "case_review_days", 30),
    ],
)
def test_a10_a_party_may_override_only_its_own_periods(tmp_path, section, key, value):
    [problem] = problems(tmp_path, f"[{section}]\n{key} = {value}\n")
    assert problem.startswith(f"[{section}] {key}: ")
    assert "may not override it" in problem and "A10" in problem


@pytest.mark.parametrize("key", ["mpzo_plan_working_days", "eviction_outcome_days"])
@pytest.mark.parametrize("section", ["municipality.dordrecht", "corporation.woonbron",
                                     'pair."woonbron/dordrecht"'])
def test_a10_region_wide_values_only_in_defaults(tmp_path, section, key):
    [problem] = problems(tmp_path, f"[{section}]\n{key} = 5\n")
    assert f"{key} is region-wide (only [defaults] sets it)" in problem and "A10" in problem
    assert PolicyFile.load(write(tmp_path, f"[defaults]\n{key} = 5\n"), PARTIES)


@pytest.mark.parametrize(
    ("key", "bad", "good"),
    [
        ("early_signal_after_days", 27, 28), ("early_signal_after_days", 46, 45),
        ("collection_pause_days", 45, 30), ("collection_pause_days", 31, 1),
        ("mpzo_after_months", 1, 2), ("mpzo_after_months", 6, 3),
        ("crisis_response_working_days", 6, 5), ("crisis_response_working_days", 0, 1),
        ("help_plan_deadline_days", 0, 1), ("case_review_days", -1, 30),
        ("mpzo_plan_working_days", 0, 15), ("eviction_outcome_days", 0, 7),
    ],
)
def test_a10_values_within_the_agreements_bounds(tmp_path, key, bad, good):
    [problem] = problems(tmp_path, f"[defaults]\n{key} = {bad}\n")
    assert problem.startswith(f"[defaults] {key} = {bad}")
    assert PolicyFile.load(write(tmp_path, f"[defaults]\n{key} = {good}\n"), PARTIES)


def test_a10_bounds_apply_to_overrides_too(tmp_path):
    [problem] = problems(tmp_path, "[corporation.poort6]\ncollection_pause_days = 45\n")
    assert problem == ("[corporation.poort6] collection_pause_days = 45: outside the agreement's "
                       "bounds 1–30 (RULES.md §11 A10, decision 4)")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[municipality.dordrech]\nhelp_plan_deadline_days = 21\n",
         "[municipality.dordrech]: 'dordrech' is not a party in the registry (RULES.md §11 A10)"),
        ("[corporation.woonbrn]\ncollection_pause_days = 20\n",
         "[corporation.woonbrn]: 'woonbrn' is not a party in the registry (RULES.md §11 A10)"),
        ("[corporation.dordrecht]\ncollection_pause_days = 20\n",
         "[corporation.dordrecht]: 'dordrecht' is a municipality, not a corporation "
         "(RULES.md §11 A10)"),
        ("[municipality.sdd]\naftercare_months = 3\n",
         "[municipality.sdd]: 'sdd' is a social service, not a municipality (RULES.md §11 A10)"),
        ('[pair."woonbron/utrecht"]\naftercare_months = 3\n',
         '[pair."woonbron/utrecht"]: \'utrecht\' is not a party in the registry '
         '(RULES.md §11 A10)'),
        ('[pair."woonbron"]\naftercare_months = 3\n',
         '[pair."woonbron"]: a pair is "<corporation>/<municipality>" (RULES.md §11 A10)'),
    ],
)
def test_a10_unknown_party_codes_are_refused(tmp_path, text, message):
    assert problems(tmp_path, text) == [message]


def test_a10_every_mistake_is_reported_at_once(tmp_path):
    found = problems(tmp_path, """
[defaults]
mpzo_after_months = 6
[municipality.dordrecht]
collection_pause_days = 20
[corporation.nobody]
collection_pause_days = 20
""")
    assert len(found) == 3
    assert [p.split(" ")[0] for p in found] == [
        "[corporation.nobody]:", "[defaults]", "[municipality.dordrecht]"]


def test_a10_the_shipped_files_keep_the_agreement():
    from vangnet.policy import load_checked

    pf = load_checked(REPO / "config" / "policy.toml", REPO / "config" / "registry.toml")
    assert pf.resolve("woonbron", "dordrecht") == Policy()


def test_a10_values_recorded_before_the_bounds_still_load():
    """A case records its policy; one recorded before A10 (or before A1's values existed) loads
    as it is, with A1's defaults added: the bounds are checked on the file, not on the case."""
    old = {"early_signal_after_days": 14, "help_plan_deadline_days": 28,
           "collection_pause_days": 45, "mpzo_after_months": 2,
           "crisis_response_working_days": 3, "aftercare_months": 6, "relapse_window_months": 12}
    policy = Policy.model_validate(old)
    assert policy.collection_pause_days == 45 and policy.case_review_days == 90
