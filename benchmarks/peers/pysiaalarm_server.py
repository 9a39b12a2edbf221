"""pysiaalarm's asyncio receiver, run inside its own environment for the benchmark.

Needs Python 3.12+ and ``pysiaalarm`` 3.x (``benchmarks/.envs/pysiaalarm``). Accounts come
from a JSON file: ``[{"account": "000001", "key": "0123…" or null}, …]``; a key is the 16/24/32
characters pysiaalarm takes. The callback only counts events; the count is printed on stderr
at exit so a run can be cross-checked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from pysiaalarm import CommunicationsProtocol, SIAAccount
from pysiaalarm.aio import SIAClient

delivered = 0


async def on_event(event: object) -> None:
    """The application callback: count, nothing else."""
    del event
    global delivered  # noqa: PLW0603 - one counter in a one-purpose script
    delivered += 1


def load_accounts(path: Path) -> list[SIAAccount]:
    """The accounts file as pysiaalarm accounts."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [SIAAccount(account_id=item["account"], key=item["key"]) for item in entries]


async def serve(host: str, port: int, transport: str, accounts: list[SIAAccount]) -> None:
    """Run pysiaalarm's SIAClient until SIGTERM or SIGINT."""
    protocol = CommunicationsProtocol.TCP if transport == "tcp" else CommunicationsProtocol.UDP
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    client = SIAClient(host, port, accounts, function=on_event, protocol=protocol)
    start_options = {"backlog": 4096} if transport == "tcp" else {}
    await client.async_start(**start_options)
    await stop.wait()
    await client.async_stop()


def main() -> None:
    """Command line: ``--host``, ``--port``, ``--transport tcp|udp``, ``--accounts FILE``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--transport", choices=("tcp", "udp"), default="tcp")
    parser.add_argument("--accounts", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(args.host, args.port, args.transport, load_accounts(args.accounts)))
    print(f"pysiaalarm delivered {delivered} events", file=sys.stderr)


if __name__ == "__main__":
    main()
