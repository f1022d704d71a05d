"""A real IMAP server for tests: Debian's Dovecot (`dovecot-imapd`) from a throwaway configuration.

`Dovecot().start()` writes a config with `listen = 127.0.0.1`, a free port, one passwd-file user and a
maildir under `tmp_dir`, runs `dovecot -F -c CONF` in the foreground and waits until the port greets. Mail is
delivered with IMAP APPEND (`deliver(raw_bytes)`), as a mail server's local delivery would leave it. `stop()`
ends the process it started (and only that one). `available()` says why it cannot run here, or None.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from imapclient import IMAPClient

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def available() -> str | None:
    """None when Dovecot can run here, else the reason."""
    if not os.path.exists(DOVECOT):
        return "Dovecot is not installed (apt-get install dovecot-imapd)"
    if not os.path.exists("/usr/lib/dovecot/imap"):
        return "Dovecot's IMAP server is not installed (apt-get install dovecot-imapd)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dovecot:
    def __init__(self, root: Path | None = None, user: str = "support@example.com", idle: bool = True) -> None:
        # Its own directory under the system temp dir: Dovecot's users must reach it (pytest's tmp_path is
        # private to the user running the tests).
        self._own_root = root is None
        self.root = root if root is not None else Path(tempfile.mkdtemp(prefix="bulkmsg-dovecot-"))
        self.user = user
        #: False: the server announces no IDLE after login (Dovecot's `imap_capability`), like servers the app
        #: can only poll
        self.idle = idle
        self.password = secrets.token_urlsafe(12)
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def _ids(self) -> tuple[str, int, int]:
        """(system user, uid, gid) owning the mail: the `dovecot` user when we are root, else ourselves."""
        if os.geteuid() == 0:
            entry = pwd.getpwnam("dovecot")
            return "dovecot", entry.pw_uid, entry.pw_gid
        entry = pwd.getpwuid(os.geteuid())
        return entry.pw_name, entry.pw_uid, entry.pw_gid

    def start(self) -> Dovecot:
        system_user, uid, gid = self._ids()
        for name in ("run", "mail", "home", "state"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        (self.root / "users").write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        login_user = "dovenull" if os.geteuid() == 0 else system_user
        config = f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {system_user}
default_login_user = {login_user}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{self.root}/mail/%u
{"" if self.idle else "imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE UIDPLUS"}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""
        conf = self.root / "dovecot.conf"
        conf.write_text(config)
        if os.geteuid() == 0:
            for path in [self.root, *self.root.rglob("*")]:
                os.chown(path, uid, gid)
            os.chown(self.root / "run", 0, 0)
        self._process = subprocess.Popen(  # noqa: S603 - a fixed binary and our own config file
            [DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"Dovecot exited: {error.strip()[:500]} {self.log()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.settimeout(2)
                    if sock.recv(64).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Dovecot did not answer on port {self.port} within 15 s: {self.log()[-500:]}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        self._process = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def settings(self, **changes: object) -> dict[str, object]:
        """The SMTP channel's inbox settings for this server."""
        return {
            "imap_host": "127.0.0.1",
            "imap_port": self.port,
            "imap_security": "none",
            "imap_username": self.user,
            "imap_password": self.password,
            "imap_folder": "INBOX",
            **changes,
        }

    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put one mail into the mailbox (IMAP APPEND), as local delivery would."""
        client = self.client()
        try:
            client.append(folder, raw)
        finally:
            client.logout()

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
