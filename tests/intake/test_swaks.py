"""A second, independent SMTP client (swaks, Debian) against the listener: each address form, AUTH and refusals."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import trustme

from tests.fixtures.mail.build import one_page_pdf
from tests.intake.conftest import ALICE_PASSWORD, FIXTURES, Gateway, GatewayFactory

pytestmark = pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks (Debian package) is not installed")


async def swaks(port: int, *args: str) -> tuple[int, str]:
    """Run swaks against the listener; its exit code and the whole transcript."""
    process = await asyncio.create_subprocess_exec(
        "swaks", "--server", "127.0.0.1", "--port", str(port), "--helo", "swaks.test", "--timeout", "30",
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def test_swaks_sends_a_pdf_attachment_to_a_number(gateway: Gateway, tmp_path: Path) -> None:
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(one_page_pdf("Letter"))
    code, transcript = await swaks(
        gateway.port, "--from", "clinic@example.com", "--to", "2015550123@fax.localhost",
        "--header", "Subject: Letter [fax: nocover]", "--attach", f"@{pdf}", "--attach-type", "application/pdf",
    )
    assert code == 0, transcript
    assert "250 2.0.0 Queued as" in transcript
    [stored] = await gateway.submissions()
    assert stored.recipients[0]["number"] == "+12015550123"
    assert stored.options["cover"] is False


async def test_swaks_display_name_and_name_at_number_forms(gateway: Gateway) -> None:
    code, transcript = await swaks(
        gateway.port, "--from", "clinic@example.com", "--to", "2015550123@fax.localhost,jane.doe@2015550124.fax",
        "--header", 'To: "Dr. Meyer" <2015550123@fax.localhost>, jane.doe@2015550124.fax',
    )
    assert code == 0, transcript
    [stored] = await gateway.submissions()
    assert [(r["number"], r["name"]) for r in stored.recipients] == [
        ("+12015550123", "Dr. Meyer"), ("+12015550124", "jane doe")]


async def test_swaks_subject_address(start_gateway: GatewayFactory) -> None:
    gateway = await start_gateway(subject_address="fax@fax.localhost")
    code, transcript = await swaks(gateway.port, "--from", "clinic@example.com", "--to", "fax@fax.localhost",
                                   "--header", "Subject: 201 555 0129 - Test")
    assert code == 0, transcript
    [stored] = await gateway.submissions()
    assert stored.recipients[0]["number"] == "+12015550129" and stored.subject == "Test"


async def test_swaks_starttls_auth_plain_and_a_wrong_password(gateway: Gateway, ca: trustme.CA,
                                                              tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    common = ["--from", "alice@example.com", "--to", "2015550123@fax.localhost", "--tls", "--tls-verify",
              "--tls-ca-path", str(ca_file), "--auth", "PLAIN", "--auth-user", "alice", "--local-interface",
              "127.0.0.2"]
    code, transcript = await swaks(gateway.port, *common, "--auth-password", ALICE_PASSWORD)
    assert code == 0, transcript
    assert "235 2.7.0 Authentication successful" in transcript
    code, transcript = await swaks(gateway.port, *common, "--auth-password", "wrong")
    assert code != 0
    assert "535 5.7.8" in transcript
    [stored] = await gateway.submissions()
    assert stored.principal == "alice"


async def test_swaks_unauthenticated_remote_client_and_relay_are_refused(gateway: Gateway) -> None:
    code, transcript = await swaks(gateway.port, "--from", "x@example.org", "--to", "2015550123@fax.localhost",
                                   "--local-interface", "127.0.0.2")
    assert code != 0 and "530 5.7.0 Authentication required" in transcript
    code, transcript = await swaks(gateway.port, "--from", "x@example.org", "--to", "victim@example.net")
    assert code != 0 and "550 5.7.1 Relaying denied" in transcript
    assert await gateway.submissions() == []


async def test_swaks_forbidden_number_and_oversized_mail(start_gateway: GatewayFactory) -> None:
    gateway = await start_gateway(max_message_size="30KB")
    code, transcript = await swaks(gateway.port, "--from", "x@example.org", "--to", "19005550199@fax.localhost")
    assert code != 0 and "550 5.7.1 +19005550199: you may not send faxes to premium-rate numbers" in transcript
    code, transcript = await swaks(gateway.port, "--from", "x@example.org", "--to", "2015550123@fax.localhost",
                                   "--body", ("z" * 70 + "\n") * 800)
    assert code != 0 and "552" in transcript
    assert await gateway.submissions() == []


async def test_swaks_real_outlook_mail_from_a_file(gateway: Gateway) -> None:
    code, transcript = await swaks(gateway.port, "--from", "john.smith@contoso.example",
                                   "--to", "2015550123@fax.localhost",
                                   "--data", str(FIXTURES / "outlook_tnef.eml"))
    assert code == 0, transcript
    [stored] = await gateway.submissions()
    assert stored.recipients[0]["name"] == "Dr. Meyer"
    assert stored.subject == "Quarterly report"
