"""The simulated network on virtual time, driven by raw AT commands as a Class 1 host would."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from modem.simnet import Impairment, RemoteFaxSpec, SimModemPort, SimNetwork
from tests.simnet.class1 import command, read_frame, read_until, receive_frame, send_frames, stuff

CSI_FCF = 0x40
DIS_FCF = 0x80
CFR_FCF = 0x84
FTT_FCF = 0x44
V17_14400_DCS = bytes.fromhex("ff13830022f844")
"""DCS as spandsp's own terminal sends it: V.17 14400, T.4 1D, standard, A4, extended octet."""
SPANDSP_DIS = bytes.fromhex("ff138000eef8c480908080 8018".replace(" ", ""))
"""DIS as spandsp's terminal sends it: V.17/V.29/V.27ter, 2D, fine, ECM, T.6."""


def tsi_frame(ident: str) -> bytes:
    """A TSI frame: identity padded to 20 characters, transmitted last character first."""
    return bytes([0xFF, 0x03, 0x43]) + ident.rjust(20)[::-1].encode("ascii")


@pytest.fixture
def net() -> Iterator[SimNetwork]:
    network = SimNetwork()
    network.add_remote_fax("5550100", RemoteFaxSpec(ident="+1 555 0100"))
    network.add_remote_fax("5550101", RemoteFaxSpec(busy=True))
    network.add_remote_fax("5550102", RemoteFaxSpec(never_answer=True))
    network.add_remote_fax("5550103", RemoteFaxSpec(ident="third time", busy_first_calls=2))
    network.add_remote_fax("5550105", RemoteFaxSpec(no_dial_tone=True))
    network.add_remote_fax("5550106", RemoteFaxSpec(not_fax=True))
    yield network
    network.close()


async def ready_modem(net: SimNetwork, name: str = "sim0", number: str = "5551000") -> SimModemPort:
    port = net.add_modem(name, number)
    assert await command(port, "ATE0") == ["ATE0", "OK"]
    assert await command(port, "AT+FCLASS=1") == ["OK"]
    return port


async def test_identification_and_capabilities(net: SimNetwork) -> None:
    port = await ready_modem(net)
    assert await command(port, "ATI0") == ["spandsp", "OK"]
    assert await command(port, "AT+FCLASS=?") == ["0,1,1.0", "OK"]
    assert await command(port, "AT+FTM=?") == ["24,48,72,73,74,96,97,98,121,122,145,146", "OK"]
    assert await command(port, "AT+FRH=?") == ["3", "OK"]
    assert await command(port, "AT+FCLASS=2") == ["ERROR"]


async def test_call_failures_give_modem_result_codes(net: SimNetwork) -> None:
    port = await ready_modem(net)
    assert await command(port, "ATD5550101", timeout=60) == ["BUSY"]
    assert await command(port, "ATD5550102", timeout=60) == ["NO ANSWER"]
    assert await command(port, "ATD5550105", timeout=60) == ["NO DIALTONE"]
    assert await command(port, "ATD5559999", timeout=60) == ["NO ANSWER"]
    assert [record.outcome for record in net.remotes["5550101"].records] == ["busy"]
    assert [record.outcome for record in net.remotes["5550102"].records] == ["no answer"]


async def test_ata_without_a_call_is_an_error(net: SimNetwork) -> None:
    port = await ready_modem(net)
    assert await command(port, "ATA") == ["ERROR"]


async def test_busy_twice_then_answers(net: SimNetwork) -> None:
    port = await ready_modem(net)
    assert await command(port, "ATD5550103", timeout=60) == ["BUSY"]
    assert await command(port, "ATD5550103", timeout=60) == ["BUSY"]
    assert await command(port, "ATD5550103", timeout=60) == ["CONNECT"]
    received = await read_frame(port)
    assert received[0][2] == CSI_FCF
    assert received[0][3:23][::-1].decode().strip() == "third time"


async def test_remote_dis_arrives_with_fcs(net: SimNetwork) -> None:
    port = await ready_modem(net)
    assert await command(port, "ATD5550100", timeout=60) == ["CONNECT"]
    csi, result = await read_frame(port)
    assert (csi[0], csi[1], csi[2], result) == (0xFF, 0x03, CSI_FCF, "OK")
    assert csi[3:23][::-1].decode() == "+1 555 0100".rjust(20)
    second = await receive_frame(port)
    assert second is not None
    dis, result = second
    assert dis[:3] == bytes([0xFF, 0x13, DIS_FCF])
    assert result == "OK"
    assert await command(port, "ATH") == ["OK"]
    await port.clock.sleep(1.0)
    record = net.remotes["5550100"].last
    sent_dis = next(frame for incoming, frame in record.frames if not incoming and frame[2] == DIS_FCF)
    assert dis[:-2] == sent_dis  # the modem appends the two FCS octets
    assert record.outcome == "failed"  # we hung up before phase B


async def train(port: SimModemPort, seconds: float = 1.5, rate: int = 145) -> int:
    """Dial the remote, send TSI + DCS + TCF; return the control field of the answer (CFR or FTT)."""
    assert await command(port, "ATD5550100", timeout=60) == ["CONNECT"]
    received: tuple[bytes, str] | None = await read_frame(port)
    while received is not None and received[0][1] != 0x13:
        received = await receive_frame(port)
    assert received is not None and received[0][2] == DIS_FCF
    result = await send_frames(port, [tsi_frame("5551000"), V17_14400_DCS])
    assert result.endswith("OK")
    assert await command(port, "AT+FTS=8") == ["OK"]
    reply = await command(port, f"AT+FTM={rate}")
    assert reply == ["CONNECT"]
    await port.write(stuff(bytes(int(14400 * seconds / 8))))
    assert (await read_until(port, (b"OK",))).strip() == b"OK"
    answer = await receive_frame(port)
    assert answer is not None
    return answer[0][2] & 0xFE


async def test_clean_training_gets_cfr(net: SimNetwork) -> None:
    port = await ready_modem(net)
    assert await train(port) == CFR_FCF


async def test_noise_during_tcf_gets_ftt(net: SimNetwork) -> None:
    net.impairments.append(Impairment(toward="5550100", during="tcf"))
    port = await ready_modem(net)
    assert await train(port) == FTT_FCF


async def test_two_modems_back_to_back_with_ring_and_caller_id(net: SimNetwork) -> None:
    caller = await ready_modem(net, "sim0", "5551000")
    callee = await ready_modem(net, "sim1", "5551001")
    await caller.write(b"ATD5551001\r")
    first = await read_until(callee, (b"RING",), timeout=10)
    assert first.split() == [b"NMBR=5551000", b"RING"]
    assert (await read_until(callee, (b"RING",), timeout=10)).split() == [b"RING"]
    answer = await command(callee, "ATA")
    assert answer == ["CONNECT"]  # the answering modem is sending V.21 now
    assert await send_frames(callee, [bytes.fromhex("ff1380002e")], command_first=False) == "OK"
    assert await command(callee, "ATH") == ["OK"]
    reply = await read_until(caller, (b"OK", b"ERROR"))
    assert reply.split(b"\r\n")[1] == b"CONNECT"
    frame, result = await read_frame(caller, reply.split(b"CONNECT\r\n", 1)[1])
    assert (frame[:5], result) == (bytes.fromhex("ff1380002e"), "OK")


async def test_remote_calls_in_with_caller_id_and_did(net: SimNetwork) -> None:
    port = await ready_modem(net)
    page = np.zeros((100, 216), dtype=np.uint8)
    record = net.remotes["5550100"].call("5551000", [page], caller_name="ACME", did="5551000")
    lines = (await read_until(port, (b"RING",))).split()
    assert lines == [b"NMBR=5550100", b"NAME=ACME", b"NDID=5551000", b"RING"]
    assert await command(port, "ATA") == ["CONNECT"]
    assert await send_frames(port, [SPANDSP_DIS], command_first=False) == "OK"
    received = await receive_frame(port)
    assert received is not None
    assert received[0][2] == 0x43  # TSI
    assert received[0][3:23][::-1].decode().strip() == "+1 555 0100"
    assert record.direction == "sent"


async def test_wedged_modem_is_silent_then_recovers(net: SimNetwork) -> None:
    port = await ready_modem(net)
    net.wedge("sim0", seconds=30.0)
    assert await command(port, "AT", timeout=5.0) == []
    assert await command(port, "AT", timeout=5.0) == []
    await port.clock.sleep(30.0)
    assert await command(port, "AT") == ["OK"]


async def transcript() -> tuple[list[str], list[str], list[str]]:
    network = SimNetwork()
    try:
        network.add_remote_fax("5550100", RemoteFaxSpec(ident="+1 555 0100"))
        network.impairments.append(Impairment(toward="5550100", during="tcf", occurrences=(0,)))
        port = network.add_modem("sim0", "5551000")
        await command(port, "ATE0")
        await command(port, "AT+FCLASS=1")
        await train(port)
        await command(port, "ATH")
        await port.clock.sleep(2.0)
        return network.session_log("sim0"), network.remotes["5550100"].last.log, network.events
    finally:
        network.close()


async def test_two_runs_are_identical() -> None:
    first = await transcript()
    second = await transcript()
    assert len(first[1]) > 100
    assert first == second


async def test_bit_errors_in_tcf_get_ftt(net: SimNetwork) -> None:
    net.impairments.append(Impairment(toward="5550100", during="tcf", bit_error_rate=0.01))
    port = await ready_modem(net)
    assert await train(port) == FTT_FCF


async def test_impairment_limited_to_the_first_tcf(net: SimNetwork) -> None:
    net.impairments.append(Impairment(toward="5550100", during="tcf", occurrences=(0,)))
    port = await ready_modem(net)
    assert await train(port) == FTT_FCF
    assert await send_frames(port, [tsi_frame("5551000"), V17_14400_DCS]) == "OK"
    assert await command(port, "AT+FTS=8") == ["OK"]
    assert await command(port, "AT+FTM=145") == ["CONNECT"]
    await port.write(stuff(bytes(2700)))
    assert (await read_until(port, (b"OK",))).strip() == b"OK"
    answer = await receive_frame(port)
    assert answer is not None
    assert answer[0][2] & 0xFE == CFR_FCF


async def test_remote_hangs_up_during_page_data(net: SimNetwork) -> None:
    remote = net.add_remote_fax("5550107", RemoteFaxSpec(ident="drops", hangup_after_page_data_s=3.0))
    port = await ready_modem(net)
    assert await command(port, "ATD5550107", timeout=60) == ["CONNECT"]
    received: tuple[bytes, str] | None = await read_frame(port)
    while received is not None and received[0][1] != 0x13:
        received = await receive_frame(port)
    assert await send_frames(port, [tsi_frame("5551000"), V17_14400_DCS]) == "OK"
    assert await command(port, "AT+FTS=8") == ["OK"]
    assert await command(port, "AT+FTM=145") == ["CONNECT"]
    await port.write(stuff(bytes(2700)))
    assert (await read_until(port, (b"OK",))).strip() == b"OK"
    answer = await receive_frame(port)
    assert answer is not None and answer[0][2] & 0xFE == CFR_FCF
    assert await command(port, "AT+FTM=146") == ["CONNECT"]
    page_data = bytes([0x00, 0x80] * 9000)  # 10 s of EOL-like data at 14400 bit/s
    await port.write(stuff(page_data))
    reply = await read_until(port, (b"OK", b"NO CARRIER", b"ERROR"), timeout=20)
    assert b"NO CARRIER" in reply
    record = remote.last
    assert (record.outcome, record.completion) == ("failed", "The call dropped prematurely")
    assert "5550107 hangs up during page data" in " ".join(net.events)


async def test_dialling_out_while_a_call_is_offered_gives_that_caller_busy(net: SimNetwork) -> None:
    """Glare: the line keeps the outgoing call; the offered call gets busy, and no RING reaches the call in progress."""
    port = await ready_modem(net)
    net.add_remote_fax("5550200", RemoteFaxSpec(ident="caller"))
    page = np.zeros((100, 216), dtype=np.uint8)
    offered = net.remotes["5550200"].call("5551000", [page])
    assert (await read_until(port, (b"RING",))).split()[-1] == b"RING"
    reply = await command(port, "ATD5550100", timeout=60)
    assert reply == ["CONNECT"]
    assert offered.outcome == "busy"
    heard = await read_until(port, (b"never",), timeout=12.0)  # four ring intervals of the line's own output
    assert b"RING" not in heard
    assert b"\xff\x03\x40" in heard  # the called fax's CSI came through clean
