"""Issue 10 in the case store, on SQLite and PostgreSQL: the webhook outbox (claims never push a
message twice at once, backoff, give-up, redelivery) and the case list's readability (RULES §12 I3)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from vangnet.domain import CaseProjection
from vangnet.store.case_list import CaseFilter, Reader, list_cases
from vangnet.store.cases import upsert_case
from vangnet.store.inbox import NewMessage, deliver_many
from vangnet.store.intake_events import Verdict, record_verdicts
from vangnet.store.outbox import claim_due, mark_pending, record_outcome, redeliver, status

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def pending(store, n: int) -> list[int]:  # noqa: ANN001
    delivered = await deliver_many(store.sessions, [
        NewMessage("woonbron", f"k/{i}", "case-woonbron-X1", "tenant_notice_sent", {}) for i in range(n)])
    ids = [d.message_id for d in delivered]
    async with store.sessions() as session, session.begin():
        await mark_pending(session, ids, T0)
    return ids


async def test_claims_retries_give_up_and_redelivery(store):
    ids = await pending(store, 3)
    first, second = await asyncio.gather(claim_due(store.sessions, T0), claim_due(store.sessions, T0))
    assert sorted(m.id for m in first + second) == ids  # each claimed once
    assert await claim_due(store.sessions, T0 + timedelta(seconds=30)) == []  # leased
    assert await record_outcome(store.sessions, ids[0], now=T0, delivered=True) == "delivered"
    assert await record_outcome(store.sessions, ids[1], now=T0, delivered=False, error="http_410",
                                final=True) == "failed"
    assert await record_outcome(store.sessions, ids[2], now=T0, delivered=False, error="unreachable") == "pending"
    assert [m.id for m in await claim_due(store.sessions, T0 + timedelta(seconds=31))] == [ids[2]]
    # A late answer never undoes a delivery.
    assert await record_outcome(store.sessions, ids[0], now=T0, delivered=False, error="x") == "delivered"
    # Past the give-up period a failing push is failed.
    assert await record_outcome(store.sessions, ids[2], now=T0 + timedelta(days=3), delivered=False,
                                error="unreachable") == "failed"
    [row] = await status(store.sessions)
    assert (row.party_code, row.pending, row.delivered, row.failed) == ("woonbron", 0, 1, 2)
    assert await redeliver(store.sessions, party="woonbron") == 2
    assert len(await claim_due(store.sessions, datetime.now(UTC))) == 2


async def test_the_list_follows_involvement(store):
    for ref, corporation, municipality in (("A", "woonbron", "dordrecht"), ("B", "woonbron", "dordrecht"),
                                           ("C", "poort6", "gorinchem")):
        await upsert_case(store.sessions, CaseProjection(
            case_id=f"case-{corporation}-{ref}", run_id="r1", corporation=corporation,
            municipality=municipality, stage="arrears", track="spoor_1", outcome=None, opened_at=T0,
            closed_at=None, next_deadline=T0 + timedelta(days=30)))
    await deliver_many(store.sessions, [NewMessage("mpzo", "m/1", "case-woonbron-B", "mpzo_notified", {})])
    await record_verdicts(store.sessions, [Verdict("dordrecht", "e1", "case-woonbron-A", "help_accepted", "applied")])

    async def listed(reader: Reader, **filters) -> list[str]:  # noqa: ANN003
        rows, cursor = await list_cases(store.sessions, reader, CaseFilter(**filters), limit=1)
        out = [r.case_id for r in rows]
        while cursor:
            rows, cursor = await list_cases(store.sessions, reader, CaseFilter(**filters), cursor=cursor, limit=1)
            out += [r.case_id for r in rows]
        return out

    assert await listed(Reader(None)) == ["case-poort6-C", "case-woonbron-A", "case-woonbron-B"]
    assert await listed(Reader("woonbron", is_corporation=True)) == ["case-woonbron-A", "case-woonbron-B"]
    assert await listed(Reader("mpzo")) == ["case-woonbron-B"]
    assert await listed(Reader("dordrecht")) == ["case-woonbron-A"]
    assert await listed(Reader("sdd")) == []
    assert await listed(Reader(None), municipality="gorinchem") == ["case-poort6-C"]
    assert await listed(Reader(None), deadline_before=T0) == []
    assert len(await listed(Reader(None), deadline_before=T0 + timedelta(days=31), state="open")) == 3
