from datetime import timedelta


async def test_case_opens_and_sends_tenant_notice(cases):
    case = await cases.open()
    status = await case.status()
    assert status["stage"] == "arrears"
    assert status["track"] == "spoor_1"
    assert await case.actions() == [("tenant_notice_sent", None)]
    inbox = await cases.inbox("woonbron", case.id)
    assert [m.action for m in inbox] == ["tenant_notice_sent"]


async def test_missing_reminder_escalates_after_30_days(cases):
    case = await cases.open()
    await case.advance(timedelta(days=31))
    assert ("escalation_raised", "reminder_missing") in await case.actions()
