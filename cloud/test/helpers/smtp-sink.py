"""A real SMTP server for the reminder tests: aiosmtpd (Debian's python3-aiosmtpd).

Usage: /usr/bin/python3 smtp-sink.py --port N --dir DIR [--user U --password P]

Each message it accepts is written to DIR as <n>.json: {"mailFrom", "rcptTos", "data", "authUser"}
(data is the message exactly as received). With --user/--password the server requires AUTH
(PLAIN or LOGIN, allowed without TLS here, on loopback only) and refuses other credentials.
 A recipient whose local part is "refused" is refused (550), as a server refuses an unknown mailbox.
Prints "READY <port>" once it accepts connections; stops on SIGTERM/SIGINT.
"""

import argparse
import json
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("refused@"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        auth_user = None
        if session.auth_data is not None and isinstance(session.auth_data, LoginPassword):
            auth_user = session.auth_data.login.decode("utf-8", "replace")
        message = {
            "mailFrom": envelope.mail_from,
            "rcptTos": list(envelope.rcpt_tos),
            "data": envelope.content.decode("utf-8", "replace"),
            "authUser": auth_user,
        }
        tmp = os.path.join(self.folder, f".{n}.json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(message, f)
        os.rename(tmp, os.path.join(self.folder, f"{n}.json"))
        return "250 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--user")
    p.add_argument("--password")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)

    kwargs = {}
    if a.user is not None:
        expected = (a.user.encode(), (a.password or "").encode())

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == expected
            return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

        kwargs = {
            "authenticator": authenticator,
            "auth_required": True,
            "auth_require_tls": False,
        }

    controller = Controller(Handler(a.dir), hostname="127.0.0.1", port=a.port, **kwargs)
    controller.start()
    print(f"READY {a.port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
