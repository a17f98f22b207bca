"""Custom search attributes of RULES §9, typed, in one place."""

from typing import Any

from temporalio.common import SearchAttributeKey, TypedSearchAttributes

CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
CASE_TRACK = SearchAttributeKey.for_keyword("CaseTrack")
MUNICIPALITY = SearchAttributeKey.for_keyword("Municipality")
HOUSING_CORPORATION = SearchAttributeKey.for_keyword("HousingCorporation")
SOCIAL_SERVICE = SearchAttributeKey.for_keyword("SocialService")
ARREARS_MONTHS = SearchAttributeKey.for_int("ArrearsMonths")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
EVICTION_DATE = SearchAttributeKey.for_datetime("EvictionDate")
CASE_OUTCOME = SearchAttributeKey.for_keyword("CaseOutcome")

ALL = (
    CASE_STAGE,
    CASE_TRACK,
    MUNICIPALITY,
    HOUSING_CORPORATION,
    SOCIAL_SERVICE,
    ARREARS_MONTHS,
    NEXT_DEADLINE,
    EVICTION_DATE,
    CASE_OUTCOME,
)



def current_values(attributes: TypedSearchAttributes) -> dict[str, Any]:
    """Every key of `ALL` with the value a workflow run started with (None: not set), so that a
    run only upserts what changes: what the starter set, or an earlier run handed on through
    continue-as-new, is not sent again."""
    return {key.name: attributes.get(key) for key in ALL}


_CLI_TYPES = {"KEYWORD": "Keyword", "INT": "Int", "DATETIME": "Datetime"}


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPES[key.indexed_value_type.name]}"]
    return flags
