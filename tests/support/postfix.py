"""A private Postfix instance (Debian package) that relays a fax domain to faxgate, as an administrator deploys it.

Everything lives under one throwaway folder: its own config, queue and data directories, smtpd on a free
loopback port from its own master.cf, and a transport map that sends the fax domain to faxgate. Nothing is
delivered locally. The master daemon runs as root and its helpers as the ``postfix`` user, so the folder is
world-readable (a pytest tmp_path is not) and must be removed by the caller's ``stop``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.net import free_port

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.localhost
mydomain = localhost
myorigin = $myhostname
mydestination =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = {domain}
transport_maps = hash:{root}/config/transport
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_dns_support_level = disabled
maillog_file_prefixes = {root}
maillog_file = {root}/maillog
biff = no
"""

# The services a relay needs, none chrooted (the queue folder holds no copy of /etc).
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class PostfixRelay:
    """`postfix -c DIR start` with a config relaying ``domain`` to ``[127.0.0.1]:next_port``; stopped by ``stop``."""

    def __init__(self, domain: str, next_port: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="faxgate-postfix-"))
        self.root.chmod(0o755)
        self.config = self.root / "config"
        self.port = free_port()
        self.config.mkdir()
        (self.root / "queue").mkdir(mode=0o755)  # Postfix makes its subfolders and data_directory itself
        (self.config / "main.cf").write_text(MAIN_CF.format(root=self.root, domain=domain))
        (self.config / "master.cf").write_text(MASTER_CF.format(port=self.port))
        (self.config / "transport").write_text(f"{domain} smtp:[127.0.0.1]:{next_port}\n")

    def _postfix(self, command: str, *args: str) -> str:
        done = subprocess.run([command, "-c", str(self.config), *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{command} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                               f"\n{self.log()}")
        return done.stdout + done.stderr

    def start(self) -> PostfixRelay:
        """Build the transport map and start the master (it daemonizes, listening before this returns)."""
        self._postfix("postmap", f"hash:{self.config / 'transport'}")
        self._postfix("postfix", "start")
        return self

    def log(self) -> str:
        """Postfix's own log (maillog_file)."""
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def queue(self) -> str:
        """What `postqueue -p` shows (mails still waiting)."""
        return self._postfix("postqueue", "-p")

    def stop(self) -> None:
        """Stop the master and its helpers, wait until it is gone, and remove the folder."""
        pid_file = self.root / "queue" / "pid" / "master.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else 0
        try:
            if pid:
                self._postfix("postfix", "stop")
            deadline = time.monotonic() + 30
            while pid and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostfixRelay:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_: object) -> None:
        self.stop()
