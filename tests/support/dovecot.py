"""A real Dovecot IMAP server for tests: a throwaway config, passdb and maildirs in a temp folder, local ports.

No system configuration is read or touched: `dovecot -F -c <our file>` runs in the foreground as a child of the
test. Run as root (CI), Dovecot's login processes use Debian's dovenull/dovecot users and the mail is owned by
the dovecot user; run as anyone else, everything runs as that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import trustme
from imapclient import IMAPClient

from tests.support.net import free_port

DOVECOT = "/usr/sbin/dovecot"


class Dovecot:
    """One Dovecot instance with the given users (name -> password), plain IMAP and implicit-TLS IMAP ports."""

    def __init__(self, users: dict[str, str], ca: trustme.CA) -> None:
        self.users = users
        self.folder = Path(tempfile.mkdtemp(prefix="faxgate-dovecot-"))
        self.folder.chmod(0o755)  # the mail user must reach its maildir below
        self.port = free_port()
        self.tls_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            mail_user = pwd.getpwnam("dovecot")
            login_user, internal_user = "dovenull", "dovecot"
        else:
            mail_user = pwd.getpwuid(os.getuid())
            login_user = internal_user = mail_user.pw_name
        self.mail_uid, self.mail_gid = mail_user.pw_uid, mail_user.pw_gid
        mail = self.folder / "mail"
        mail.mkdir()
        os.chown(mail, self.mail_uid, self.mail_gid)
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.cert_chain_pems[0].write_to_path(str(self.folder / "cert.pem"))
        cert.private_key_pem.write_to_path(str(self.folder / "key.pem"))
        (self.folder / "passwd").write_text("".join(f"{name}:{{PLAIN}}{password}\n"
                                                    for name, password in users.items()))
        (self.folder / "dovecot.conf").write_text(f"""
base_dir = {self.folder}/run
state_dir = {self.folder}/state
log_path = {self.folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{self.folder}/cert.pem
ssl_key = <{self.folder}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {pwd.getpwnam(internal_user).pw_name if os.geteuid() == 0 else mail_user.pw_name}
first_valid_uid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.folder}/passwd
}}
userdb {{
  driver = static
  args = uid={self.mail_uid} gid={self.mail_gid} home={mail}/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
service auth {{
  user = $default_internal_user
}}
""")

    def start(self) -> Dovecot:
        """Start in the foreground and wait until the IMAP port answers with a greeting."""
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.folder / "dovecot.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited with {self.proc.returncode}:\n{self.log()}")
            try:
                IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=2).shutdown()
                return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"dovecot did not start:\n{self.log()}")

    def _children(self) -> list[int]:
        """The processes the master started (login, imap, auth): they outlive it unless stopped too."""
        if self.proc is None:
            return []
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                found.append(int(stat.parent.name))
        return found

    def stop(self) -> None:
        """Stop the server and every connection it holds (the mail stays on disk; start() brings it back)."""
        if self.proc is not None and self.proc.poll() is None:
            children = self._children()
            self.proc.terminate()
            self.proc.wait(30)
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.proc = None

    def close(self) -> None:
        """Stop and remove every file."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        """The server's log so far."""
        path = self.folder / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client(self, user: str) -> IMAPClient:
        """A logged-in client of our own, to put mail in and look at folders as a person would."""
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(user, self.users[user])
        return client
