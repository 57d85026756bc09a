"""The one place that talks to apprise: checking URLs, masking them, sending.

apprise is imported inside these functions, so loading a config pays for it only
when `notify:` is present, and `probe --help` never does. Each apprise plugin
declares its own private tokens, limits and formats; they are used here rather
than guessed.
"""

from __future__ import annotations

import difflib
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from probes.secrets import MASK, Masker

# An apprise plugin instance (apprise.plugins.NotifyBase); apprise's own types are
# not part of this module's interface.
Service = Any

APP_ID = "probes"
DOCS = "docs/notifications.md"
EXAMPLES = "slack://…, mmost://…, workflows://…, mailtos://…, json://…"
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Path segments and query values at least this long that mix letters and digits (or
# are very long) are treated as tokens when a URL is shown: generic webhooks
# (json://, form://) carry their secret in the path, and apprise cannot know it.
_TOKEN_MIN, _TOKEN_LONG = 6, 16
_LOG_LOCK = threading.Lock()
_RETIRED = {
    "msteams": " (Microsoft retired Teams incoming webhooks: create a Teams workflow "
               "and write workflows://…)",
}


class _LogCollector(logging.Handler):
    """Keeps apprise's log records per thread: they are the only reason a send failed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        records: list[tuple[int, str]] | None = getattr(self._local, "records", None)
        if records is None:
            return
        try:
            records.append((record.levelno, record.getMessage()))
        except Exception:  # a malformed record must not break a delivery
            records.append((record.levelno, str(record.msg)))

    @contextmanager
    def collecting(self) -> Iterator[list[tuple[int, str]]]:
        previous = getattr(self._local, "records", None)
        records: list[tuple[int, str]] = []
        self._local.records = records
        try:
            yield records
        finally:
            self._local.records = previous


_collector: _LogCollector | None = None


def _apprise() -> tuple[ModuleType, _LogCollector]:
    import apprise

    global _collector
    with _LOG_LOCK:
        if _collector is None:
            # apprise logs tokens when a URL is wrong ("invalid Token (abc…)"): its
            # records never reach the console; a failed send reports the reason
            # itself, masked.
            logger = logging.getLogger("apprise")
            _collector = _LogCollector()
            logger.addHandler(_collector)
            logger.propagate = False
            # Its debug records say why a connection failed ("Connection refused").
            logger.setLevel(logging.DEBUG)
        return apprise, _collector


def _manager() -> Any:
    from apprise.manager_plugins import NotificationManager

    return NotificationManager()  # type: ignore[no-untyped-call]  # a singleton of plugins


def _asset() -> Any:
    apprise, _ = _apprise()
    return apprise.AppriseAsset(app_id=APP_ID, app_desc="probes health checks")


def check_url(url: str) -> None:
    """Raise ValueError saying what is wrong with an apprise URL, without showing it."""
    service = open_service(url)
    # apprise takes any number as a port; a wrong one would only fail at delivery, after
    # the run, when nobody is watching.
    port = getattr(service, "port", None)
    if isinstance(port, int) and not 1 <= port <= 65535:
        raise ValueError(f"has port {port}; a port is a number from 1 to 65535")


def open_service(url: str, timeout: float | None = None) -> Service:
    """The apprise plugin for `url`, its socket timeouts capped at `timeout`.

    Raises ValueError with a message that names the problem and the fix and shows
    no part of the URL but its scheme.
    """
    _, collector = _apprise()
    text = url.strip()
    match = _SCHEME_RE.match(text)
    if not match:
        raise ValueError(
            "is not an apprise URL: it must start with the service, e.g. "
            f"{EXAMPLES}; see {DOCS}")
    scheme = match.group(1).lower()
    manager = _manager()
    if scheme in ("http", "https") and scheme not in manager:
        service = _instantiate(text, scheme, collector)
        if service is None:
            secure = "s" if scheme == "https" else ""
            mattermost = (f" (a Mattermost webhook …/hooks/TOKEN is mmost{secure}://HOST/TOKEN)"
                          if "/hooks/" in text else "")
            raise ValueError(
                f"a plain {scheme}:// URL is accepted only when it is a service's own "
                "webhook address (Slack, Discord, Teams workflow, Google Chat, …); for "
                f"any other web endpoint write json{secure}:// with the same host and path"
                f"{mattermost}; see {DOCS}")
    elif scheme not in manager:
        close = difflib.get_close_matches(scheme, list(manager.schemas()), n=1)
        hint = f" (did you mean `{close[0]}://`?)" if close else ""
        hint = _RETIRED.get(scheme, hint)
        raise ValueError(
            f"unsupported notification service `{scheme}://`{hint}; write an apprise URL "
            f"such as {EXAMPLES}; see {DOCS}")
    else:
        plugin = manager[scheme]
        if not plugin.enabled:
            raise ValueError(
                f"{plugin.service_name} (`{scheme}://`) notifications cannot be sent from "
                "this machine (apprise reports the service disabled: a library it needs "
                "is missing); use another service")
        service = _instantiate(text, scheme, collector, plugin)
    if timeout is not None:
        # apprise's default socket timeouts are a few seconds; a target's own bound wins
        # when it is shorter. The whole send is bounded again by the caller.
        for attribute in ("socket_connect_timeout", "socket_read_timeout"):
            current = getattr(service, attribute, None)
            if isinstance(current, int | float):
                setattr(service, attribute, min(float(current), timeout))
    return service


def _instantiate(url: str, scheme: str, collector: _LogCollector,
                 plugin: Any | None = None) -> Service | None:
    apprise, _ = _apprise()
    with collector.collecting() as logged:
        try:
            service = apprise.Apprise.instantiate(url, asset=_asset(),
                                                  suppress_exceptions=False)
            problem = None
        except Exception as exc:
            service, problem = None, str(exc)
    if service is not None or plugin is None:
        return service
    reason = problem or _reason(logged, "")
    masked = _hide(reason, url).strip().rstrip(".")
    because = f": {masked}" if masked else ""
    templates = [t.replace("{schema}", scheme) for t in getattr(plugin, "templates", ())[:2]]
    forms = f"; write it as {' or '.join(templates)}" if templates else ""
    setup = getattr(plugin, "setup_url", "")
    where = f" (see {setup})" if setup else ""
    raise ValueError(f"is not a valid {plugin.service_name} URL{because}{forms}{where}")


def _hide(text: str, url: str) -> str:
    """`text` about a URL that did not load: every part of it that might be a token hidden."""
    secrets = url_secrets(url)
    try:
        parts = urlsplit(url.strip())
        pieces = [parts.username or "", *parts.path.split("/"),
                  *(pair.partition("=")[2] for pair in parts.query.split("&"))]
    except ValueError:
        pieces = []
    secrets.update(p for piece in pieces for p in (piece, unquote(piece)) if len(p) >= 3)
    return Masker(secrets).text(text)


def url_secrets(url: str, service: Service | None = None) -> set[str]:
    """Every part of `url` that could be a credential, for masking text about it.

    The private tokens the apprise plugin declares, the password, token-like path
    segments and query values, and the host when it is not a host name (slack://
    carries a token there).
    """
    secrets = {url, url.strip()}
    try:
        parts = urlsplit(url.strip())
        host, password = parts.hostname, parts.password
    except ValueError:
        return secrets
    if password:
        secrets.update({password, unquote(password)})
    if host and not _looks_like_host(host):
        secrets.add(host)
    for segment in parts.path.split("/"):
        if _looks_like_token(unquote(segment)):
            secrets.update({segment, unquote(segment)})
    for pair in parts.query.split("&"):
        value = pair.partition("=")[2]
        if len(unquote(value)) >= _TOKEN_MIN:
            secrets.update({value, unquote(value)})
    if service is not None:
        secrets.update(_private_values(service))
    return {s for s in secrets if s}


def _private_values(service: Service) -> set[str]:
    found: set[str] = set()
    declared = {**getattr(service, "template_tokens", {}), **getattr(service, "template_args", {})}
    for name, spec in declared.items():
        if not isinstance(spec, dict) or not spec.get("private"):
            continue
        value = getattr(service, str(spec.get("map_to", name)), None)
        values = value if isinstance(value, list | tuple | set) else [value]
        found.update(v for v in values if isinstance(v, str) and v)
    return found


def _looks_like_host(host: str) -> bool:
    return "." in host or ":" in host or host.lower() == "localhost"


def _looks_like_token(segment: str) -> bool:
    if MASK in segment or "..." in segment or "@" in segment or len(segment) < _TOKEN_MIN:
        return False  # already masked, an e-mail address, or too short for a token
    has_digit = any(c.isdigit() for c in segment)
    has_alpha = any(c.isalpha() for c in segment)
    return len(segment) >= _TOKEN_LONG or (has_digit and has_alpha)


def display_url(url: str, service: Service | None = None) -> str:
    """`url` as it may be shown: apprise's privacy rendering, no query, tokens masked."""
    try:
        rendered = (service if service is not None else open_service(url)).url(privacy=True)
    except Exception:
        match = _SCHEME_RE.match(url.strip())
        return f"{match.group(1).lower()}://{MASK}" if match else MASK
    parts = urlsplit(str(rendered))
    path = "/".join(_mask_segment(s) for s in parts.path.split("/"))
    shown = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    # The whole URL is a secret elsewhere; here it is shown with its secret parts masked.
    whole = {url, url.strip()}
    return Masker(url_secrets(url, service) - whole).text(shown)


def _mask_segment(segment: str) -> str:
    plain = unquote(segment)
    if not _looks_like_token(plain):
        return segment
    return f"{plain[0]}...{plain[-1]}"


@dataclass(frozen=True)
class Limits:
    """What a service accepts, as its apprise plugin declares it."""

    markdown: bool  # write Markdown (the service renders it, or apprise converts it to HTML)
    body_max: int  # characters of the body, the title included when title_max is 0
    title_max: int  # 0: the service has no title; apprise puts the title in the body
    max_lines: int  # 0: no limit


def limits(service: Service) -> Limits:
    from apprise import NotifyFormat

    resolve = getattr(service, "resolve_format", None)
    if callable(resolve):
        primary = resolve(None)
    else:  # apprise before 1.9 declares a single format
        declared = service.notify_format
        primary = declared[0] if isinstance(declared, list | tuple) else declared
    return Limits(
        markdown=primary in (NotifyFormat.MARKDOWN, NotifyFormat.HTML),
        body_max=int(getattr(service, "body_maxlen", 0) or 0),
        title_max=int(getattr(service, "title_maxlen", 0) or 0),
        max_lines=int(getattr(service, "body_max_line_count", 0) or 0),
    )


def send(service: Service, title: str, body: str, notify_type: str, markdown: bool) -> str | None:
    """Send one message; None when the service took it, else the reason (unmasked)."""
    from apprise import NotifyFormat, NotifyType

    _, collector = _apprise()
    with collector.collecting() as logged:
        try:
            ok = service.notify(
                body=body, title=title, notify_type=NotifyType(notify_type),
                body_format=NotifyFormat.MARKDOWN if markdown else NotifyFormat.TEXT)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
    if ok:
        return None
    return _reason(logged, "the service did not accept the message")


# The root cause inside a requests/socket exception text, e.g. "[Errno 111] Connection
# refused" or "Read timed out."
_CAUSE_RE = re.compile(r"\[Errno -?\d+\] ([^'\")]+)|(Read timed out|timed out|"
                       r"certificate verify failed[^'\")]*|Name or service not known)")


def _reason(logged: list[tuple[int, str]], default: str) -> str:
    """The last warning apprise logged, with the network cause its debug records name."""
    warnings = [text for level, text in logged if level >= logging.WARNING]
    reason = warnings[-1].strip() if warnings else default
    for level, text in reversed(logged):
        found = _CAUSE_RE.search(text) if level < logging.WARNING else None
        if found:
            cause = (found.group(1) or found.group(2)).strip().rstrip(".")
            if cause.lower() not in reason.lower():
                reason = f"{reason.rstrip('.')} ({cause})"
            break
    return reason
