"""The worker's browser for Cloudflare tasks: fetch the page through the task's proxy, meet
the site emulator's challenge, answer it, and collect what the add-on must replay."""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import ipaddress
import json
import re
import secrets
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode, urljoin, urlsplit

from ..site._cloudflare import solve_answer
from ._tables import DIALECTS, TaskRecord, _browser_ua, _SolveError

MAX_RESPONSE = 64 * 1024 * 1024
_CHALLENGE_NONCE = re.compile(r'name="nonce" value="([^"]+)"')
_CHALLENGE_ACTION = re.compile(r'<form[^>]*id="challenge-form"[^>]*action="([^"]+)"')
_BLOCK_CODE = re.compile(r"<span>(10\d\d)</span>")


@dataclass
class _Proxy:
    host: str
    port: int
    auth: str | None


@dataclass
class _Cookie:
    name: str
    value: str
    domain: str
    path: str
    expires: int


@dataclass
class _Fetched:
    status: int
    headers: list[tuple[str, str]]
    text: str
    sent: dict[str, str]

    def header(self, name: str) -> str:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), "")


def _parse_proxy(value: Any) -> _Proxy:
    if not isinstance(value, str) or not value:
        raise _SolveError("ERROR_BAD_PARAMETERS", "A proxy is required for Cloudflare tasks")
    parts = urlsplit(value if "://" in value else f"http://{value}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise _SolveError(
            "ERROR_BAD_PARAMETERS",
            "proxy must be an http URL: http://user:pass@host:port or http://host:port",
        )
    auth = None
    if parts.username is not None:
        creds = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(creds.encode()).decode()
    return _Proxy(parts.hostname, port, auth)


def _split_proxy(task: dict[str, Any], dialect: str = "") -> _Proxy:
    """anti-captcha / CapMonster / 2captcha: proxyType (the dialect's values; the
    emulated workers speak http only), proxyAddress (an IP address where the dialect
    says so), proxyPort (an int), login."""
    spec = DIALECTS[dialect] if dialect else None
    allowed = spec.proxy_types if spec else ("http", "https")
    kind, host, port = task.get("proxyType"), task.get("proxyAddress"), task.get("proxyPort")
    login, password = task.get("proxyLogin"), task.get("proxyPassword")
    if kind is None and "" in allowed:
        kind = "http"
    if kind not in allowed or not isinstance(host, str) or not host:
        raise _SolveError(
            "ERROR_BAD_PARAMETERS",
            f"proxyType ({', '.join(filter(None, allowed))}) and proxyAddress needed",
        )
    if kind not in ("http", "https"):
        raise _SolveError("ERROR_PROXY_CONNECT_REFUSED", f"{kind} proxies are not emulated")
    if spec is not None and spec.proxy_ip_only and not _is_ip(host):
        raise _SolveError(
            "ERROR_BAD_PARAMETERS", "proxyAddress must be an IP address, not a host name"
        )
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise _SolveError("ERROR_BAD_PARAMETERS", "proxyPort must be an integer port")
    if login is not None and not (isinstance(login, str) and isinstance(password, str)):
        raise _SolveError("ERROR_BAD_PARAMETERS", "proxyLogin/proxyPassword must be strings")
    auth = None
    if login:
        auth = "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()
    return _Proxy(host, port, auth)


def _colon_proxy(value: Any) -> _Proxy:
    """capsolver: ``[type:]host:port[:user:pass]``."""
    parts = value.split(":") if isinstance(value, str) else []
    if parts and parts[0] in ("http", "https", "socks5", "socks4"):
        kind, parts = parts[0], parts[1:]
    else:
        kind = "http"
    if kind not in ("http", "https") or len(parts) not in (2, 4) or not parts[1].isdigit():
        raise _SolveError(
            "ERROR_BAD_PARAMETERS", "proxy must be [http:]host:port or host:port:user:pass"
        )
    auth = None
    if len(parts) == 4:
        auth = "Basic " + base64.b64encode(f"{parts[2]}:{parts[3]}".encode()).decode()
    return _Proxy(parts[0], int(parts[1]), auth)


def task_proxy(dialect: str, task: dict[str, Any]) -> _Proxy:
    """The proxy of a Cloudflare task, in the dialect's format."""
    style = DIALECTS[dialect].proxy_style
    if style == "split":
        return _split_proxy(task, dialect)
    if style == "colon":
        return _colon_proxy(task.get("proxy"))
    return _parse_proxy(task.get("proxy"))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _forge_clearance(solution: dict[str, Any]) -> None:
    """Swap a solved cf_clearance for a well-formed forgery (the ``bad_clearance`` fault)."""
    expiry = int((time.time() + 1800) * 1000)
    forged = f"{secrets.token_hex(16)}-{expiry}-1.2.1.1-{secrets.token_hex(22)[:43]}"
    cookies: list[_Cookie] = solution["cookies"]
    for cookie in cookies:
        if cookie.name == "cf_clearance":
            cookie.value = forged
            break
    else:
        host = urlsplit(solution["url"]).hostname or ""
        cookies.append(_Cookie("cf_clearance", forged, host, "/", expiry // 1000))
    headers = solution["request_headers"]
    headers["cookie"] = "; ".join(f"{c.name}={c.value}" for c in cookies)


def _browse(record: TaskRecord, seq: int, timeout: float) -> dict[str, Any]:
    """Browse a Cloudflare task's page as a worker would, passing its challenge on the way."""
    task = record.task
    url: str = task["websiteURL"]
    proxy = task_proxy(record.dialect, task)
    given_ua = task.get("userAgent") if DIALECTS[record.dialect].takes_user_agent else None
    ua = given_ua if isinstance(given_ua, str) and given_ua else _browser_ua(seq)
    method, body, ctype = "GET", None, None
    rq = task.get("rqData") if DIALECTS[record.dialect].rqdata else None
    if isinstance(rq, dict):
        fields = {k: v for k, v in rq.items() if k != "mode"}
        method = "POST"
        if str(rq.get("mode")).upper() == "JSON":
            body, ctype = json.dumps(fields).encode(), "application/json"
        else:
            body = urlencode(fields, doseq=True).encode()
            ctype = "application/x-www-form-urlencoded"
    host = urlsplit(url).hostname or ""
    jar: OrderedDict[str, _Cookie] = OrderedDict()

    page = _fetch(proxy, method, url, ua, jar, body, ctype, site="none", timeout=timeout)
    if _is_challenge(page):
        nonce = _CHALLENGE_NONCE.search(page.text)
        action = _CHALLENGE_ACTION.search(page.text)
        if nonce is None or action is None:
            raise _SolveError("ERROR_CAPTCHA_UNSOLVABLE", "challenge form not understood")
        verify_url = urljoin(url, action.group(1))
        fields = {"nonce": nonce.group(1), "answer": solve_answer(nonce.group(1), host)}
        verified = post_form(proxy, verify_url, ua, jar, fields, referer=url, timeout=timeout)
        if verified.status != 200 or "cf_clearance" not in jar:
            raise _SolveError(
                "ERROR_CAPTCHA_UNSOLVABLE",
                f"challenge verification failed ({verified.status})",
            )
        page = _fetch(
            proxy,
            method,
            url,
            ua,
            jar,
            body,
            ctype,
            site="same-origin",
            referer=url,
            timeout=timeout,
        )
        if _is_challenge(page):
            raise _SolveError("ERROR_CAPTCHA_UNSOLVABLE", "still challenged after solving")
    block = _BLOCK_CODE.search(page.text) if page.status in (403, 429) else None
    if block is not None:
        raise _SolveError(
            "ERROR_CAPTCHA_UNSOLVABLE", f"blocked by Cloudflare (error {block.group(1)})"
        )
    headers: dict[str, str] = {}
    for name, value in page.headers:
        lname = name.lower()
        sep = "\n" if lname == "set-cookie" else ", "
        headers[lname] = f"{headers[lname]}{sep}{value}" if lname in headers else value
    return {
        "url": url,
        "cookies": list(jar.values()),
        "user_agent": ua,
        "request_headers": page.sent,
        "headers": headers,
        "content": page.text,
    }


def post_form(
    proxy: _Proxy,
    url: str,
    ua: str,
    jar: OrderedDict[str, _Cookie],
    fields: dict[str, str],
    *,
    referer: str,
    timeout: float,
) -> _Fetched:
    """A form a page's script posts (a challenge's answer), same-origin."""
    body = urlencode(fields).encode()
    kind = "application/x-www-form-urlencoded"
    return _fetch(
        proxy,
        "POST",
        url,
        ua,
        jar,
        body,
        kind,
        site="same-origin",
        referer=referer,
        timeout=timeout,
    )


def _is_challenge(page: _Fetched) -> bool:
    if page.header("cf-mitigated").lower() == "challenge":
        return True
    return page.status in (403, 503) and 'id="challenge-form"' in page.text


def _fetch(
    proxy: _Proxy,
    method: str,
    url: str,
    ua: str,
    jar: OrderedDict[str, _Cookie],
    body: bytes | None,
    content_type: str | None,
    *,
    site: str,
    referer: str | None = None,
    timeout: float,
) -> _Fetched:
    """One browser request through the proxy (absolute-form, like any HTTP proxy client)."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent: dict[str, str] = {
        ":method": method,
        ":authority": parts.netloc,
        ":scheme": parts.scheme,
        ":path": path,
    }
    if method == "POST":
        sent["content-length"] = str(len(body or b""))
        sent["cache-control"] = "max-age=0"
    sent.update(
        {
            "sec-ch-ua": '"Chromium";v="124", "EmuBrowser";v="1", "Not-A.Brand";v="99"',
            "sec-ch-ua-mobile": "?0",
            "sec-ch-ua-platform": '"Linux"',
            "upgrade-insecure-requests": "1",
        }
    )
    if method == "POST":
        sent["origin"] = f"{parts.scheme}://{parts.netloc}"
        sent["content-type"] = content_type or "application/x-www-form-urlencoded"
    sent.update(
        {
            "user-agent": ua,
            "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
            "image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
            "sec-fetch-site": site,
            "sec-fetch-mode": "navigate",
            "sec-fetch-user": "?1",
            "sec-fetch-dest": "document",
        }
    )
    if referer:
        sent["referer"] = referer
    sent["accept-encoding"] = "gzip, deflate, br, zstd"
    sent["accept-language"] = "en-US,en;q=0.9"
    if jar:
        sent["cookie"] = "; ".join(f"{c.name}={c.value}" for c in jar.values())
    sent["priority"] = "u=0, i"

    conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=timeout)
    try:
        try:
            conn.connect()
        except OSError as exc:
            raise _SolveError(
                "ERROR_PROXY_CONNECT_REFUSED", f"could not connect to the proxy: {exc}"
            ) from None
        conn.putrequest(method, url, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", parts.netloc)
        for name, value in sent.items():
            if not name.startswith(":"):
                conn.putheader(name, value)
        if proxy.auth:
            conn.putheader("Proxy-Authorization", proxy.auth)
        conn.putheader("Proxy-Connection", "close")
        conn.endheaders(body)
        resp = conn.getresponse()
        raw = resp.read(MAX_RESPONSE)
        headers = resp.getheaders()
        status = resp.status
    except (OSError, http.client.HTTPException) as exc:
        raise _SolveError("ERROR_CAPTCHA_UNSOLVABLE", f"page fetch failed: {exc}") from None
    finally:
        with contextlib.suppress(OSError):
            conn.close()
    if status == 407:
        raise _SolveError(
            "ERROR_PROXY_CONNECT_REFUSED", "the proxy refused the task's credentials (407)"
        )
    fetched = _Fetched(status, headers, _decode(raw, headers), sent)
    host = parts.hostname or ""
    now = time.time()
    for name, value in headers:
        if name.lower() == "set-cookie":
            cookie = _parse_set_cookie(value, host, now)
            if cookie is not None:
                jar.pop(cookie.name, None)
                jar[cookie.name] = cookie
    return fetched


def _decode(raw: bytes, headers: list[tuple[str, str]]) -> str:
    encoding = next((v for k, v in headers if k.lower() == "content-encoding"), "")
    encoding = encoding.strip().lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            try:
                raw = zlib.decompress(raw)
            except zlib.error:
                raw = zlib.decompress(raw, -zlib.MAX_WBITS)
        elif encoding not in ("", "identity"):
            raise _SolveError(
                "ERROR_CAPTCHA_UNSOLVABLE", f"unsupported content-encoding {encoding}"
            )
    except (OSError, EOFError, zlib.error) as exc:
        raise _SolveError("ERROR_CAPTCHA_UNSOLVABLE", f"bad compressed body: {exc}") from None
    return raw.decode("utf-8", "replace")


def _parse_set_cookie(value: str, host: str, now: float) -> _Cookie | None:
    first, *attrs = value.split(";")
    name, sep, cookie_value = first.partition("=")
    if not sep or not name.strip():
        return None
    domain, path, expires = host, "/", -1
    for attr in attrs:
        key, _, val = attr.strip().partition("=")
        key = key.lower()
        if key == "max-age":
            with contextlib.suppress(ValueError):
                expires = int(now + int(val))
        elif key == "domain" and val:
            domain = val
        elif key == "path" and val:
            path = val
    return _Cookie(name.strip(), cookie_value.strip(), domain, path, expires)
