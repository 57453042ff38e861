"""How the load benchmark (benchmarks/lines.py) judges a run: what counts as a failed call and as a lost page."""

from __future__ import annotations

from typing import Any

from benchmarks.lines import judge
from benchmarks.lines_sim import caller_ident, caller_number, dest_number, modem_name, record_json
from modem.simnet.spec import RemoteCallRecord


def _remote(line: int, role: str, outcome: str, *, sent: int = 0, received: int = 0) -> dict[str, Any]:
    number = caller_number(line) if role == "caller" else dest_number(line)
    record = RemoteCallRecord(direction="sent" if role == "caller" else "received", peer=modem_name(line),
                              outcome=outcome,  # type: ignore[arg-type]
                              pages_sent=sent, pages=[None] * received, ended_s=30.0)  # type: ignore[list-item]
    return record_json(line, role, number, record)


def _sim(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"records": records, "drained": True, "occupancy_pct": [90.0, 90.0], "late_ticks": 0}


def _sent(line: int, status: str, pages: int) -> dict[str, Any]:
    return {"device": modem_name(line), "dialed": dest_number(line), "status": status, "pages_sent": pages}


def _received(line: int, pages: int, *, completed: bool = True, caller_id: str | None = None) -> dict[str, Any]:
    return {"device": modem_name(line), "tsid": caller_ident(line),
            "caller_id": caller_number(line) if caller_id is None else caller_id, "pages": pages,
            "completed": completed}


def _clean_run() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[int]]:
    records = [_remote(0, "caller", "completed", sent=2), _remote(0, "dest", "completed", received=2),
               _remote(1, "caller", "busy"), _remote(1, "caller", "completed", sent=2),
               _remote(1, "dest", "completed", received=2)]
    attempts = [_sent(0, "CALL_COMPLETED", 2), _sent(1, "BUSY", 0), _sent(1, "CALL_COMPLETED", 2)]
    incoming = [_received(0, 2), _received(1, 2, caller_id="")]  # caller ID lost: matched by the TSI
    return _sim(records), attempts, incoming, [2, 2]


def test_busy_attempts_are_counted_apart_and_a_full_run_is_clean() -> None:
    figures = judge(2, *_clean_run())
    assert figures["clean"] and figures["failed_calls"] == 0 and figures["lost_pages"] == 0
    assert figures["not_connected"] == {"in_busy": 1, "out_faxgate_busy": 1}
    assert (figures["calls_in"], figures["calls_out"], figures["pages_in"], figures["pages_out"]) == (2, 2, 4, 4)
    assert figures["caller_id_missing"] == 1


def test_a_call_dropped_after_its_first_page_is_a_failure_but_loses_nothing() -> None:
    sim, attempts, incoming, folder = _clean_run()
    sim["records"] += [_remote(0, "caller", "failed", sent=1), _remote(0, "dest", "failed", received=1)]
    attempts.append(_sent(0, "DISCONNECTED", 1))
    incoming.append(_received(0, 1, completed=False))
    figures = judge(2, sim, attempts, incoming, [*folder, 1])
    assert (figures["failed_in"], figures["failed_out"], figures["lost_pages"]) == (1, 1, 0)
    assert not figures["clean"]


def test_confirmed_pages_the_receiver_did_not_keep_are_lost() -> None:
    sim, attempts, incoming, folder = _clean_run()
    incoming[0]["pages"] = 1  # the remote had MCF for 2 pages, faxgate kept 1
    attempts[0]["pages_sent"] = 3  # faxgate had MCF for 3 pages, the remote kept 2
    figures = judge(2, sim, attempts, incoming, folder[:1])  # and one stored fax never reached the folder
    assert (figures["lost_in"], figures["lost_out"], figures["lost_in_folder"]) == (1, 1, 1)
    assert figures["lost_pages"] == 3 and figures["failed_calls"] == 0 and not figures["clean"]


def test_a_line_that_never_received_makes_the_run_unclean() -> None:
    sim, attempts, incoming, folder = _clean_run()
    figures = judge(3, sim, attempts, incoming, folder)
    assert figures["lines_idle"] == {"no_receive": ["line2"], "no_send": ["line2"]}
    assert figures["failed_calls"] == 0 and figures["lost_pages"] == 0 and not figures["clean"]
