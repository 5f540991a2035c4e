"""The directory's deletes and the rota's overlapping overrides over REST: a unit or expert
nothing refers to is deleted; one with history on record stays (409 in_use, with the reason);
where two overrides overlap, the most recently created one is on duty first, whatever its id."""

from __future__ import annotations

from datetime import timedelta

from tests.workflow.helpers import MON, WorkflowServer, cst


async def test_delete_units_and_experts_only_without_history(wf: WorkflowServer) -> None:
    await wf.unit("vil-1")
    await wf.unit("vil-2")
    await wf.unit("twn-1", tier="township")
    await wf.unit("vil-3", parent_id="twn-1")
    await wf.expert("wang")
    await wf.roster("wang", (MON, "08:00", "12:00"))
    await wf.expert("idle")
    await wf.roster("idle", (MON, "08:00", "12:00"))
    await wf.case("vil-1")
    # nothing refers to vil-2: gone
    await wf.ok("DELETE", "/api/v1/units/vil-2")
    assert (await wf.api("GET", "/api/v1/units/vil-2"))[0] == 404
    # a unit with a case on record stays, and says why
    err = await wf.ok("DELETE", "/api/v1/units/vil-1", status=409)
    assert err["error"]["code"] == "in_use" and "cases" in err["error"]["message"]
    err = await wf.ok("DELETE", "/api/v1/units/twn-1", status=409)
    assert "parent of vil-3" in err["error"]["message"]
    assert (await wf.ok("DELETE", "/api/v1/units/nope", status=404))["error"]["code"] == (
        "unknown_unit"
    )
    # an expert with a booking stays; one on the rota is taken off it first
    case = await wf.case("vil-1")
    await wf.book(case["id"], expert_id="wang", start=wf.clock.now().replace(hour=9).isoformat())
    err = await wf.ok("DELETE", "/api/v1/experts/wang", status=409)
    assert err["error"]["code"] == "in_use" and "bookings" in err["error"]["message"]
    slot = {"expert_id": "idle", "weekday": MON, "start": "08:00", "end": "20:00"}
    await wf.ok("PUT", "/api/v1/rota/cardiology", {"slots": [slot]})
    err = await wf.ok("DELETE", "/api/v1/experts/idle", status=409)
    assert "rota" in err["error"]["message"]
    await wf.ok("PUT", "/api/v1/rota/cardiology", {"slots": []})
    await wf.ok("DELETE", "/api/v1/experts/idle")
    assert (await wf.api("GET", "/api/v1/experts/idle"))[0] == 404
    assert (await wf.api("GET", "/api/v1/experts/idle/roster"))[0] == 404
    assert [e["id"] for e in (await wf.ok("GET", "/api/v1/experts"))["experts"]] == ["wang"]


async def test_units_and_experts_named_by_accounts_or_lectures_stay(wf: WorkflowServer) -> None:
    """Issue #11: an account bound to a unit, a lecture's audience naming it, and an expert
    account (user name = expert id) refer to them too: deleting would leave the account's
    workspace a 404. Disabled accounts count (they can be enabled again)."""
    for unit in ("vil-1", "vil-2", "vil-3"):
        await wf.unit(unit)
    await wf.expert("zhou")
    await wf.expert("wang")

    async def account(username: str, role: str, **kw: str) -> None:
        body = {"username": username, "role": role, "password": "correct horse battery", **kw}
        await wf.ok("POST", "/api/v1/accounts", body, status=201)

    await account("vil.doctor", "doctor", unit_id="vil-1")
    await wf.ok("PATCH", "/api/v1/accounts/vil.doctor", {"disabled": True})
    err = await wf.ok("DELETE", "/api/v1/units/vil-1", status=409)
    assert err["error"]["code"] == "in_use" and "vil.doctor" in err["error"]["message"]
    assert (await wf.api("GET", "/api/v1/units/vil-1"))[0] == 200
    lecture = {
        "title": "ECG for village doctors",
        "presenter_id": "wang",
        "audience_unit_ids": ["vil-2"],
        "start": cst(10, 19).isoformat(),
        "end": cst(10, 20).isoformat(),
    }
    await wf.ok("POST", "/api/v1/lectures", lecture, status=201)
    err = await wf.ok("DELETE", "/api/v1/units/vil-2", status=409)
    assert err["error"]["code"] == "in_use" and "lectures" in err["error"]["message"]
    assert (await wf.api("GET", "/api/v1/units/vil-2"))[0] == 200
    await account("zhou", "expert")
    err = await wf.ok("DELETE", "/api/v1/experts/zhou", status=409)
    assert err["error"]["code"] == "in_use" and "account zhou" in err["error"]["message"]
    assert (await wf.api("GET", "/api/v1/experts/zhou"))[0] == 200
    # a coordinator or doctor account of the same name is not the expert's
    await wf.expert("li")
    await account("li", "coordinator")
    await wf.ok("DELETE", "/api/v1/experts/li")
    await wf.ok("DELETE", "/api/v1/units/vil-3")  # nothing refers to it


async def test_overlapping_overrides_the_newest_is_on_duty_first(wf: WorkflowServer) -> None:
    for expert in ("zhou", "wang", "li"):
        await wf.expert(expert)
    now = wf.clock.now()
    made = []
    for expert in ("zhou", "wang", "li"):
        got = await wf.ok(
            "POST",
            "/api/v1/rota/overrides",
            {
                "specialty": "cardiology",
                "expert_id": expert,
                "start": (now - timedelta(hours=1)).isoformat(),
                "end": (now + timedelta(hours=3)).isoformat(),
            },
            status=201,
        )
        assert got["id"].startswith("ovr_") and got["created_at"] is not None
        made.append(got["id"])
        wf.clock.advance(seconds=60)
    on_duty = await wf.ok("GET", f"/api/v1/rota/on-duty?specialty=cardiology&at={_q(now)}")
    assert on_duty["expert_ids"] == ["li", "wang", "zhou"]  # newest first, not by id
    rota = await wf.ok("GET", "/api/v1/rota")
    assert sorted(o["id"] for o in rota["overrides"]) == sorted(made)
    # the newest deleted: the one before it is first again
    await wf.ok("DELETE", f"/api/v1/rota/overrides/{made[2]}")
    on_duty = await wf.ok("GET", f"/api/v1/rota/on-duty?specialty=cardiology&at={_q(now)}")
    assert on_duty["expert_ids"] == ["wang", "zhou"]


def _q(when: object) -> str:
    from urllib.parse import quote

    return quote(when.isoformat())  # type: ignore[attr-defined]
