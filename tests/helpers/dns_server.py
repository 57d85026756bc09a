"""A real DNS server on 127.0.0.1 for tests (dnslib), and one that never answers.

    with dns_server(["app.test. 60 IN A 10.0.0.5"]) as server:
        server.port  # UDP and TCP on this port of 127.0.0.1

Records are zone-file lines. A name with no record at all gets NXDOMAIN; a known
name asked for a type it lacks gets NOERROR with no answers (NODATA).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from dnslib import QTYPE, RCODE, RR
from dnslib.server import DNSHandler, DNSLogger, DNSServer

_QUIET = DNSLogger("-request,-reply,-truncated,-error", prefix=False)


class _ClassicUdpHandler(DNSHandler):  # type: ignore[misc]
    # Like a real server: UDP answers over 512 bytes are truncated (TC set), TCP has all.
    udplen = 512


class _ZoneResolver:
    def __init__(self, records: list[Any]) -> None:
        self.records = records
        self.names = {str(record.rname).lower() for record in records}
        self.queries: list[tuple[str, str]] = []

    def resolve(self, request: Any, handler: Any) -> Any:
        del handler
        reply = request.reply()
        name = str(request.q.qname).lower()
        qtype = QTYPE[request.q.qtype]
        self.queries.append((name, qtype))
        if name not in self.names:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for record in self.records:
            if str(record.rname).lower() == name and QTYPE[record.rtype] == qtype:
                reply.add_answer(record)
        return reply


@dataclass
class RunningDnsServer:
    port: int
    resolver: _ZoneResolver = field(repr=False)

    @property
    def queries(self) -> list[tuple[str, str]]:
        """(name, type) of every query received, in order."""
        return self.resolver.queries


@contextlib.contextmanager
def dns_server(zone_lines: Sequence[str]) -> Iterator[RunningDnsServer]:
    """Serve the records over UDP and TCP on one loopback port until the block ends."""
    resolver = _ZoneResolver(RR.fromZone("\n".join(zone_lines)))
    udp, tcp = _bind_pair(resolver)
    port = udp.server.server_address[1]
    servers = (udp, tcp)
    for server in servers:
        server.start_thread()
    try:
        yield RunningDnsServer(port, resolver)
    finally:
        for server in servers:
            server.stop()
            server.server.server_close()


def _bind_pair(resolver: _ZoneResolver) -> tuple[Any, Any]:
    # TCP on the UDP port's number serves answers too long for UDP (the client falls
    # back); that number may be taken for TCP, so try a few.
    for _ in range(10):
        udp = DNSServer(resolver, address="127.0.0.1", port=0, logger=_QUIET,
                        handler=_ClassicUdpHandler)
        try:
            tcp = DNSServer(resolver, address="127.0.0.1", port=udp.server.server_address[1],
                            tcp=True, logger=_QUIET, handler=_ClassicUdpHandler)
        except OSError:
            udp.server.server_close()
            continue
        return udp, tcp
    raise RuntimeError("no loopback port free for both UDP and TCP")


@contextlib.contextmanager
def silent_udp_port(address: str = "127.0.0.1", port: int = 0) -> Iterator[int]:
    """A bound UDP port that receives queries and never answers them."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()
