"""What the process environment says about trust and proxies, read once per run.

requests re-reads the whole environment for proxies on every request; with
thousands of checks that is most of its CPU time. The environment does not change
during a run, so it is read once here and handed to each request explicitly.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import urllib.request
from functools import cache
from urllib.parse import urlsplit


@cache
def default_ca_bundle() -> str | bool:
    """Where TLS trust comes from when a check names no `ca_file`.

    REQUESTS_CA_BUNDLE, then SSL_CERT_FILE, then the system store; True (certifi)
    only when the system has no store.
    """
    for variable in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        value = os.environ.get(variable)
        if value and os.path.exists(value):
            return value
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, paths.capath, paths.openssl_capath):
        if candidate and os.path.exists(candidate):
            return candidate
    return True


@cache
def _proxies() -> tuple[dict[str, str], tuple[str, ...]]:
    found = urllib.request.getproxies()
    no_proxy = found.pop("no", "")
    entries = tuple(e.strip().lower() for e in no_proxy.split(",") if e.strip())
    return found, entries


def proxies_for(url: str) -> dict[str, str]:
    """The proxies a request to `url` should use, honouring NO_PROXY."""
    proxies, no_proxy = _proxies()
    if not proxies:
        return {}
    host = (urlsplit(url).hostname or "").lower()
    if _bypassed(host, no_proxy):
        return {}
    return {scheme: proxy for scheme, proxy in proxies.items() if scheme in ("http", "https")}


def _bypassed(host: str, no_proxy: tuple[str, ...]) -> bool:
    for entry in no_proxy:
        if entry == "*":
            return True
        bare = entry.lstrip(".").split(":", 1)[0]
        if host == bare or host.endswith("." + bare):
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(bare, strict=False):
                return True
        except ValueError:
            continue
    return False
