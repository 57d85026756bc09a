"""`http`: one HTTP request, and what came back.

The body is streamed and read up to `max_body`: a target that answers with a
gigabyte costs at most that much memory (compressed bodies too, as they are
decoded piece by piece). `latency` runs from the start of the request to the end
of the body that was read, so it includes DNS, connect, TLS, redirects and a slow
body. Connecting and waiting for the headers each get the check's timeout (the
runner bounds the sum); while the body arrives, each wait gets what is left of it.
"""

from __future__ import annotations

import codecs
import contextlib
import http.client
import json
import os
import re
import socket
import ssl
import time
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from probes.kinds import CheckBase, Size
from probes.kinds._environment import default_ca_bundle, proxies_for
from probes.kinds._net import classify
from probes.model import Category, ProbeError
from probes.units import Bytes, Seconds, format_duration, format_size

if TYPE_CHECKING:
    import urllib3

MAX_REDIRECTS = 10
_CHUNK = 64 * 1024
_METHOD_RE = re.compile(r"^[A-Z][A-Z-]*$")
_CHARSET_RE = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9_.:-]+)", re.IGNORECASE)
# OpenSSL verify codes of a chain that does not lead to a trusted CA.
_UNTRUSTED = {18, 19, 20, 21, 27}
_NAME_MISMATCH = {62, 64}  # host name, IP address

def _header_values_as_text(value: Any) -> Any:
    """`X-Retries: 3` in YAML is a number; a header value is text."""
    if isinstance(value, dict):
        return {
            key: ("true" if v is True else "false" if v is False else str(v))
            if isinstance(v, bool | int | float) else v
            for key, v in value.items()
        }
    return value


Headers = Annotated[dict[str, str], BeforeValidator(_header_values_as_text)]


class Check(CheckBase):
    kind: Literal["http"] = "http"
    observations: ClassVar[frozenset[str]] = frozenset(
        {"status", "latency", "body", "json", "header", "size", "truncated"}
    )
    default_expect: ClassVar[tuple[str, ...]] = ("status >= 200", "status <= 299")
    # A body or a JSON payload may carry credentials (a login request) as much as headers.
    secret_keys: ClassVar[frozenset[str]] = frozenset({"url", "headers", "body", "json"})

    url: str = Field(description="http:// or https:// URL to request")
    method: str = Field("GET", description="HTTP method: GET, POST, HEAD, …")
    headers: Headers = Field(default_factory=dict, description="Request headers")
    body: str | None = Field(None, description="Text sent as the request body")
    json_body: Any = Field(
        None, alias="json", description="A value sent as a JSON body (sets Content-Type)"
    )
    verify: bool = Field(True, description="Verify the TLS certificate chain and host name")
    ca_file: str | None = Field(
        None, description="PEM bundle of trusted CAs used instead of the system store"
    )
    follow_redirects: bool = Field(True, description=f"Follow up to {MAX_REDIRECTS} redirects")
    max_body: Size = Field(
        Bytes(1_000_000), description="Read at most this much of the body (default 1MB)"
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # The URL may carry a secret: the messages never repeat it.
        parts = urlsplit(value.strip())
        if parts.scheme.lower() not in ("http", "https"):
            raise ValueError("url must start with http:// or https://, e.g. "
                             "https://api.example.com/health")
        if not parts.hostname:
            raise ValueError("url has no host name; write it like https://api.example.com/health")
        try:
            parts.port  # noqa: B018 - parsing the port is the check
        except ValueError:
            raise ValueError("url has a port that is not a number from 1 to 65535") from None
        return value.strip()

    @field_validator("method")
    @classmethod
    def _method_token(cls, value: str) -> str:
        method = value.strip().upper()
        if not _METHOD_RE.match(method):
            raise ValueError(f"{value!r} is not an HTTP method; write GET, POST, HEAD, PUT, …")
        return method

    @field_validator("headers")
    @classmethod
    def _sendable_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                raise ValueError(f"{name!r} is not a valid header name")
            if "\r" in text or "\n" in text:
                raise ValueError(f"the value of header {name} contains a line break")
            try:
                text.encode("latin-1")
            except UnicodeEncodeError:
                raise ValueError(f"the value of header {name} has characters HTTP headers "
                                 "cannot carry; use ASCII") from None
        return value

    @field_validator("json_body")
    @classmethod
    def _serialisable(cls, value: Any) -> Any:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise ValueError("json holds a value JSON cannot carry (a date or time? quote it: "
                             "\"2024-01-31\")") from None
        return value

    @model_validator(mode="after")
    def _one_body(self) -> Check:
        if self.body is not None and "json_body" in self.model_fields_set:
            raise ValueError("write either `body` (text sent as it is) or `json` (a value "
                             "sent as JSON), not both")
        return self

    def target(self) -> str:
        return f"{self.method} {self.url}"

    @property
    def _where(self) -> str:
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        host = parts.hostname or ""
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def observe(self, timeout: float) -> dict[str, Any]:
        import urllib3  # imported by the first http check, not by `probe --help`

        deadline = time.monotonic() + timeout
        trust = self._trust()
        if trust is False:
            # Asked for explicitly; a warning per request would only be noise in the log.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        headers, data = self._request_body()
        started = time.perf_counter()
        try:
            # A manager of its own: this check's connections, none kept after it.
            with _connection_manager(self.url, trust) as manager:
                response = manager.request(
                    self.method, self.url, headers=_with_defaults(headers), body=data,
                    preload_content=False, redirect=self.follow_redirects,
                    retries=_redirects_only(self.follow_redirects),
                    timeout=urllib3.Timeout(connect=timeout, read=timeout),
                )
                try:
                    raw, truncated = self._read_body(response, deadline, timeout)
                    latency = Seconds(time.perf_counter() - started)
                finally:
                    response.release_conn()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._error(exc, timeout) from None
        facts: dict[str, Any] = {
            "status": response.status,
            "latency": latency,
            "body": raw.decode(_charset(response.headers.get("Content-Type")), "replace"),
            "header": response.headers,  # a case-insensitive mapping
            "size": Bytes(len(raw)),
            "truncated": truncated,
        }
        if raw and not truncated:
            with contextlib.suppress(ValueError, RecursionError):  # not JSON: no `json`
                facts["json"] = json.loads(raw)
        return facts

    def _request_body(self) -> tuple[dict[str, str], bytes | None]:
        if self.body is not None:
            return self.headers, self.body.encode("utf-8")
        if "json_body" not in self.model_fields_set:
            return self.headers, None
        # Serialised here rather than by requests, which would drop an explicit `json: null`.
        headers = dict(self.headers)
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
        return headers, json.dumps(self.json_body).encode("utf-8")

    def _trust(self) -> bool | str:
        """What requests verifies against: a CA file or directory, or False."""
        if not self.verify:
            return False
        if self.ca_file:
            if not os.path.isfile(self.ca_file):
                raise ProbeError(Category.CONFIG, f"ca_file {self.ca_file} is not a readable file")
            return self.ca_file
        # REQUESTS_CA_BUNDLE, SSL_CERT_FILE, then the system store rather than requests' own
        # bundle: a company CA installed on the machine must be trusted.
        return default_ca_bundle()

    def _read_body(self, raw: urllib3.BaseHTTPResponse, deadline: float,
                   timeout: float) -> tuple[bytes, bool]:
        """At most `max_body` bytes of the decoded body, and whether there was more."""
        import urllib3

        cap = self.max_body
        kept = bytearray()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock = getattr(raw.connection, "sock", None)
                if sock is not None:
                    sock.settimeout(remaining)
                # One byte past the cap tells whether the body was longer.
                chunk = raw.read1(min(_CHUNK, cap + 1 - len(kept)), decode_content=True)
                if not chunk:
                    return bytes(kept), False
                kept += chunk
                if len(kept) > cap:
                    return bytes(kept[:cap]), True
        except (TimeoutError, urllib3.exceptions.ReadTimeoutError):
            raise ProbeError(
                Category.TIMEOUT,
                f"the body from {self._where} was still arriving after "
                f"{format_duration(timeout)} ({format_size(len(kept))} read)",
            ) from None

    def _rejection(self, exc: ssl.SSLCertVerificationError) -> str:
        where, reason = self._where, str(exc.verify_message or exc.reason or exc)
        if exc.verify_code in _UNTRUSTED:
            return (f"untrusted certificate chain from {where} ({reason}); set ca_file to the "
                    "PEM of the CA that issued it")
        if exc.verify_code in _NAME_MISMATCH:
            return (f"hostname mismatch: the certificate of {where} is not valid for "
                    f"{urlsplit(self.url).hostname!r}")
        return f"TLS certificate of {where} rejected: {reason}"

    def _error(self, exc: BaseException, timeout: float) -> ProbeError:
        from urllib3 import exceptions as http_errors

        where, evidence = self._where, str(exc)
        causes = list(_causes(exc))

        def found(kind: type[BaseException] | tuple[type[BaseException], ...]
                  ) -> BaseException | None:
            return next((cause for cause in causes if isinstance(cause, kind)), None)

        if isinstance(exc, http_errors.MaxRetryError) and _too_many_redirects(exc):
            return ProbeError(Category.CONNECT, f"more than {MAX_REDIRECTS} redirects from "
                              f"{where} (a redirect loop?)", evidence)
        if found(http_errors.LocationValueError):  # also LocationParseError
            return ProbeError(Category.CONFIG, f"cannot send this request: {exc}", evidence)
        connect_timeout = found(http_errors.ConnectTimeoutError)
        # NewConnectionError is a ConnectTimeoutError too (for history's sake): a refused
        # or unresolvable connection is classified below, by its socket error.
        if connect_timeout and not isinstance(connect_timeout, http_errors.NewConnectionError):
            return ProbeError(Category.TIMEOUT, f"connecting to {where} took longer than "
                              f"{format_duration(timeout)}", evidence)
        if found((http_errors.ReadTimeoutError, TimeoutError, socket.timeout)):
            return ProbeError(Category.TIMEOUT, f"no response from {where} within "
                              f"{format_duration(timeout)}", evidence)
        if found(http_errors.ProxyError):
            return ProbeError(Category.CONNECT, f"the proxy did not get through to {where} "
                              "(see HTTPS_PROXY / HTTP_PROXY / NO_PROXY)", evidence)
        verification = found(ssl.SSLCertVerificationError)
        if isinstance(verification, ssl.SSLCertVerificationError):
            return ProbeError(Category.TLS, self._rejection(verification), evidence)
        for cause in causes:
            if isinstance(cause, OSError):
                named = urlsplit(self.url).hostname if isinstance(cause, socket.gaierror) else None
                error = classify(cause, named or where)
                return ProbeError(error.category, error.message, evidence)
        if found((http_errors.SSLError, ssl.SSLError)):
            return ProbeError(Category.TLS, f"TLS with {where} failed", evidence)
        malformed = found(http.client.HTTPException)
        if malformed is not None:
            return ProbeError(Category.CONNECT, f"the answer from {where} is not valid HTTP: "
                              f"{type(malformed).__name__}: {str(malformed)[:200]}", evidence)
        return ProbeError(Category.CONNECT, f"the request to {where} failed: "
                          f"{type(exc).__name__}", evidence)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (urllib3 → socket/ssl)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [getattr(current, "reason", None), current.__cause__, current.__context__,
                   *current.args]
        todo.extend(w for w in wrapped if isinstance(w, BaseException))


def _connection_manager(url: str, trust: bool | str) -> urllib3.PoolManager:
    """A PoolManager (or ProxyManager, as the environment says) trusting `trust`."""
    import urllib3

    if trust is False:
        tls: dict[str, Any] = {"cert_reqs": "CERT_NONE"}
    else:
        bundle = trust if isinstance(trust, str) else _certifi_bundle()
        where = "ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"
        tls = {"cert_reqs": "CERT_REQUIRED", where: bundle}
    proxy = proxies_for(url).get(urlsplit(url).scheme.lower())
    if proxy:
        return urllib3.ProxyManager(proxy, num_pools=1, **tls)
    return urllib3.PoolManager(num_pools=1, **tls)


def _redirects_only(follow: bool) -> urllib3.Retry:
    """Never retry a request (the runner's `retries` does that); follow redirects."""
    import urllib3

    return urllib3.Retry(total=None, connect=0, read=0, status=0, other=0,
                         redirect=MAX_REDIRECTS if follow else 0, raise_on_redirect=follow,
                         raise_on_status=False, respect_retry_after_header=False)


def _too_many_redirects(exc: BaseException) -> bool:
    from urllib3.exceptions import ResponseError

    reason = getattr(exc, "reason", None)
    return isinstance(reason, ResponseError) and "redirect" in str(reason)


def _with_defaults(headers: dict[str, str]) -> urllib3.HTTPHeaderDict:
    """The headers every request carries, each replaced by the check's own (any case)."""
    import urllib3

    merged = urllib3.HTTPHeaderDict({
        "User-Agent": _user_agent(),
        "Accept": "*/*",
        "Accept-Encoding": "gzip, deflate",
    })
    for name, value in headers.items():
        merged[name] = value  # case-insensitive: `user-agent` replaces the default
    return merged


@cache
def _certifi_bundle() -> str:
    """Mozilla's CA bundle, for a machine without a system store."""
    import certifi

    return str(certifi.where())


@cache
def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"probes/{version('probes')}"
    except PackageNotFoundError:
        return "probes"


def _charset(content_type: str | None) -> str:
    match = _CHARSET_RE.search(content_type or "")
    if match:
        try:
            return codecs.lookup(match.group(1)).name
        except LookupError:
            pass
    return "utf-8"
