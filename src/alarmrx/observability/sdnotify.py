"""The systemd notification protocol (``sd_notify(3)``) without libsystemd.

``notify("READY=1")`` sends a datagram to ``$NOTIFY_SOCKET``; a name starting with ``@`` is
in the abstract namespace. Without the variable (not under systemd) it does nothing.

Variables of alarmrx's own take the ``X_`` prefix ``sd_notify(3)`` recommends for names it does
not define (systemd ignores them): a receiver worker tells the supervisor ``X_JOURNAL=connected``
and ``X_JOURNAL=lost`` as its connection to the journal writer comes and goes.
"""

from __future__ import annotations

import os
import socket

NOTIFY_SOCKET = "NOTIFY_SOCKET"
JOURNAL_CONNECTED = "X_JOURNAL=connected"
JOURNAL_LOST = "X_JOURNAL=lost"


def notify(message: str) -> bool:
    """Send ``message`` (e.g. ``READY=1``, ``WATCHDOG=1``); True when it was sent."""
    address = os.environ.get(NOTIFY_SOCKET, "")
    if not address.startswith(("/", "@")):
        return False  # unset, or a vsock address we do not speak
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between required ``WATCHDOG=1`` pings (``WatchdogSec=``), or None when off.

    ``$WATCHDOG_PID``, when set, must be this process: otherwise the watchdog is another's.
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000
