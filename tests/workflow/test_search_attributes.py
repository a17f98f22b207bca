"""The search attributes of RULES §9 follow the case, also when only time passes."""

from datetime import datetime, timedelta

from vangnet import calendar


async def test_arrears_months_grows_by_age_without_any_event(cases):
    # 70 days in arrears at open: two months by age, so the MPZO report (R5c) and the missing
    # reminder escalation (R2) happen at once; the next deadline is the MPZO's plan (A1), weeks
    # away, and the months in arrears still follow the calendar.
    case = await cases.open(arrears_cents=20_000, monthly_rent_cents=85_000,
                            arrears_since=datetime.now(calendar.TZ).date() - timedelta(days=70))
    status = await case.status()
    assert status["next_deadline"]["kind"] == "mpzo_plan_deadline"
    attrs = await case.search_attributes()
    assert attrs["ArrearsMonths"] == 2
    assert attrs["CaseStage"] == "care"
    assert attrs["CaseTrack"] == "spoor_2"
    assert attrs["SocialService"] == "sdd"
    assert attrs["NextDeadline"].isoformat() == status["next_deadline"]["due_at"]

    await case.advance(timedelta(days=31))
    assert (await case.search_attributes())["ArrearsMonths"] == 3
    assert [t["kind"] for t in await case.timeline()][-1] != "ignored"
