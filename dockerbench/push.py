"""Sending a snapshot to the dashboard (``python -m dockerbench --push URL``), with the host's push token.

The body is the snapshot's JSON, gzip-compressed; the dashboard evaluates it with its own checks and records
it as a scan of the host the token belongs to (docs/push.md). TLS is verified against the CA file given, else
the default trust store. The environment is not trusted with any of it: REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE
would silently replace the CA given, and a ~/.netrc entry the token. Proxies from the environment
(HTTPS_PROXY, NO_PROXY) are still used. A redirect is not followed: the token goes to the URL given or
nowhere. Plain http:// is refused except to this machine (loopback), where there is no wire to read.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

DEFAULT_TIMEOUT = 120.0
TOKEN_ENV = "DOCKERBENCH_PUSH_TOKEN"  # noqa: S105 - the name of a variable, not a token
# What the dashboard's error answers look like: {"error": code, "detail": text}; shown at most this long.
_MAX_SHOWN = 600


class PushError(Exception):
    """The push did not record a scan. ``temporary``: the dashboard could not be reached or failed (5xx, 409,
    429): trying again later may work. Otherwise it refused the push (4xx): retrying will not help."""

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


@dataclass(frozen=True)
class PushResult:
    scan: int
    url: str
    created: bool  # False: the dashboard had this very snapshot already, and answered with that scan
    host: str = ""


def check_url(url: str) -> str:
    """``url`` if it is one to push to (https://, or http:// to a loopback address), else ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{url!r} is not an https:// URL (e.g. https://dockerbench.example.com/api/v1/push/)")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError(f"{url} is plain http: the push token would cross the network in clear; use https://")
    return url


def _loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def push_snapshot(
    url: str, token: str, snapshot_json: str, *, ca_file: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> PushResult:
    """POST the snapshot to the dashboard; the scan it recorded (or had recorded), or PushError."""
    check_url(url)
    body = gzip.compress(snapshot_json.encode("utf-8", "surrogatepass"), compresslevel=6)
    session = requests.Session()
    session.trust_env = False  # no CA bundle, netrc or proxies behind our back: see the module's docstring
    try:
        response = session.post(
            url,
            data=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
                "Accept": "application/json",
                "User-Agent": "dockerbench-push",
            },
            verify=ca_file or True,
            proxies=requests.utils.get_environ_proxies(url),
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.exceptions.SSLError as exc:
        which = f"the CA in {ca_file}" if ca_file else "the system's trust store (give --push-ca FILE)"
        raise PushError(f"TLS verification of {url} failed against {which}: {_reason(exc)}", temporary=False) from None
    except requests.exceptions.Timeout:
        raise PushError(f"{url} did not answer within {timeout:g} s", temporary=True) from None
    except requests.exceptions.ConnectionError as exc:
        raise PushError(f"cannot reach {url}: {_reason(exc)}", temporary=True) from None
    except OSError as exc:  # an unreadable CA file, for one
        raise PushError(f"cannot push to {url}: {exc}", temporary=False) from None
    finally:
        session.close()
    return _result(url, response)


def _result(url: str, response: requests.Response) -> PushResult:
    status = response.status_code
    data = _json(response)
    if status in (200, 201) and isinstance(data, dict) and isinstance(data.get("scan"), int):
        return PushResult(
            scan=data["scan"], url=str(data.get("url", "")), created=status == 201, host=str(data.get("host", ""))
        )
    if 300 <= status < 400:
        where = response.headers.get("Location", "somewhere else")
        raise PushError(f"{url} redirects to {where}: push to that URL instead", temporary=False)
    detail = ""
    if isinstance(data, dict):
        detail = f"{data.get('error', '')}: {data.get('detail', '')}".strip(": ")
    if not detail:
        detail = (response.text or response.reason or "").strip()
    detail = detail[:_MAX_SHOWN]
    if status in (200, 201):
        raise PushError(f"{url} answered {status} but not as a dockerbench dashboard: {detail}", temporary=False)
    temporary = status >= 500 or status in (408, 409, 429)
    if status == 429 and response.headers.get("Retry-After"):
        detail += f" (retry after {response.headers['Retry-After']} s)"
    raise PushError(f"the dashboard answered {status} {response.reason}: {detail}", temporary=temporary)


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return None


def _reason(exc: BaseException) -> str:
    # requests nests the reason a few exceptions deep; the innermost says it best.
    while exc.args and isinstance(exc.args[0], BaseException):
        exc = exc.args[0]
    reason = getattr(exc, "reason", None)
    return str(reason or exc)[:_MAX_SHOWN]
