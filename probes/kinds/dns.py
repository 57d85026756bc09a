"""`dns`: ask a DNS server for a record and observe the answer.

The query goes straight to one server (the check's `server`, else the nameservers of
/etc/resolv.conf in turn), so the check sees DNS itself: no /etc/hosts, no search
domains. Every response code is an observation (`rcode == "NXDOMAIN"` can be
expected); only a server that does not answer, or cannot be reached, is an error.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

from pydantic import Field, field_validator

from probes.kinds import CheckBase
from probes.model import Category, ProbeError
from probes.units import Seconds, format_duration

if TYPE_CHECKING:
    import dns.message

RecordType = Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "PTR", "SOA", "CAA"]
RECORD_TYPES: tuple[str, ...] = get_args(RecordType)


class Check(CheckBase):
    kind: Literal["dns"] = "dns"
    observations: ClassVar[frozenset[str]] = frozenset({"answers", "rcode", "latency"})
    default_expect: ClassVar[tuple[str, ...]] = ('rcode == "NOERROR"', "answers != []")

    host: str = Field(description="The name to resolve (for PTR also an IP address)")
    type: RecordType = Field("A", description="Record type: " + ", ".join(RECORD_TYPES))
    server: str | None = Field(
        None, description="IP address of the DNS server to ask; default: /etc/resolv.conf"
    )
    port: int = Field(53, ge=1, le=65535, description="Port of `server`")

    @field_validator("type", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        if isinstance(value, str) and value.upper() in RECORD_TYPES:
            return value.upper()
        if isinstance(value, str):
            raise ValueError(f"unknown record type {value!r}; use one of: "
                             + ", ".join(RECORD_TYPES))
        return value

    @field_validator("server")
    @classmethod
    def _ip_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address; write the server's address, "
                             "e.g. 10.0.0.2 (a name would need DNS to find DNS)") from None

    @field_validator("host")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("write the name to resolve, e.g. db.internal.example.com")
        return value.strip()

    def target(self) -> str:
        where = f" @{self.server}:{self.port}" if self.server else ""
        return f"{self.type} {self.host}{where}"

    def observe(self, timeout: float) -> dict[str, Any]:
        import dns.message
        import dns.rcode

        query = dns.message.make_query(_query_name(self.host, self.type), self.type)
        servers = [self.server] if self.server else _system_nameservers()
        started = time.perf_counter()
        response = _ask_in_turn(query, servers, self.port, timeout)
        latency = Seconds(time.perf_counter() - started)
        return {
            "answers": _answers(response, self.type),
            "rcode": dns.rcode.to_text(response.rcode()),
            "latency": latency,
        }


def _query_name(host: str, record_type: str) -> Any:
    import dns.exception
    import dns.name
    import dns.reversename

    if record_type == "PTR":
        with contextlib.suppress(dns.exception.SyntaxError, ValueError):  # not an address
            return dns.reversename.from_address(host)
    try:
        return dns.name.from_text(host)
    except dns.exception.DNSException as exc:
        raise ProbeError(Category.CONFIG, f"{host!r} is not a valid DNS name: {exc}") from None


def _system_nameservers() -> list[str]:
    import dns.resolver

    try:
        servers = [str(server) for server in dns.resolver.Resolver().nameservers]
    except dns.resolver.NoResolverConfiguration:
        servers = []
    if not servers:
        raise ProbeError(Category.CONFIG, "no nameserver in /etc/resolv.conf; set `server` "
                         "to the address of the DNS server to ask")
    return servers


def _ask_in_turn(query: dns.message.Message, servers: list[str], port: int,
                 timeout: float) -> dns.message.Message:
    """The first response from the servers, each given an equal share of the timeout."""
    share = timeout / len(servers)
    failures: list[ProbeError] = []
    for server in servers:
        try:
            return _ask(query, server, port, share)
        except ProbeError as exc:
            failures.append(exc)
    if len(failures) == 1:
        raise failures[0]
    timed_out = all(failure.category is Category.TIMEOUT for failure in failures)
    raise ProbeError(
        Category.TIMEOUT if timed_out else Category.CONNECT,
        f"none of the nameservers {', '.join(servers)} answered within "
        f"{format_duration(timeout)}",
        evidence="\n".join(failure.message for failure in failures),
    )


def _ask(query: dns.message.Message, server: str, port: int,
         timeout: float) -> dns.message.Message:
    import dns.exception
    import dns.query

    where = f"{server}:{port}" if ":" not in server else f"[{server}]:{port}"
    try:
        # Falls back to TCP when the UDP answer is truncated (long TXT records).
        response, _ = dns.query.udp_with_fallback(query, server, timeout=timeout, port=port)
    except dns.exception.Timeout:
        raise ProbeError(Category.TIMEOUT, f"no answer from DNS server {where} within "
                         f"{format_duration(timeout)}") from None
    except ConnectionRefusedError:
        raise ProbeError(Category.CONNECT, f"DNS server {where} refused the query "
                         "(nothing listens on that port)") from None
    except OSError as exc:
        raise ProbeError(Category.CONNECT, f"cannot reach DNS server {where}: "
                         f"{exc.strerror or exc}") from None
    except dns.exception.DNSException as exc:
        raise ProbeError(Category.DNS, f"unusable answer from DNS server {where}: {exc}") from None
    return response


def _answers(response: dns.message.Message, record_type: str) -> list[str]:
    """Records of the asked type as text; sorted, so `==` does not flap with round robin."""
    import dns.rdatatype

    wanted = dns.rdatatype.from_text(record_type)
    texts = [_record_text(rdata) for rrset in response.answer if rrset.rdtype == wanted
             for rdata in rrset]
    return sorted(texts)


def _record_text(rdata: Any) -> str:
    import dns.name

    if hasattr(rdata, "strings"):  # TXT: the strings of one record, unquoted and joined
        return b"".join(rdata.strings).decode("utf-8", errors="replace")
    # Names without the trailing root dot, as people write them: "10 mail.example.com".
    text: str = rdata.to_text(origin=dns.name.root, relativize=True)
    return " ".join("." if token == "@" else token for token in text.split(" "))
