"""A Cloudflare-protected website emulator.

It answers like a site behind Cloudflare: ordinary pages with Cloudflare markers, managed /
interactive / legacy challenges, and 1020 / 1015 block pages. The "puzzle" is a hash anyone
can compute, so the solver emulator (or a test) can earn a ``cf_clearance`` cookie which, as
on the real service, is bound to the host, the exit IP (proxy) and the exact User-Agent.

Behind that layer the site also serves captcha gates: forms guarded by Turnstile, reCAPTCHA
(v2, invisible, v3, Enterprise) and hCaptcha widgets whose tokens a shared ``WidgetAuthority``
mints and verifies, image-captcha forms, a widget outside any form, and an article that only
talks about captchas.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import html
import json
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._server import EXIT_HEADER, EmulatorHandler, EmulatorServer
from .widgets import WidgetAuthority

__all__ = [
    "GATES",
    "MODES",
    "VERIFY_PATH",
    "WIDGET_KINDPATHS",
    "CloudflareSiteEmulator",
    "solve_answer",
]

MODES = ("managed", "interactive", "legacy", "open", "block_1020", "block_1015")
VERIFY_PATH = "/cdn-cgi/challenge-platform/h/b/orchestrate/verify"
HUGE_SIZE = 5 * 1024 * 1024
MAX_NONCES = 10_000
MAX_EVENTS = 100_000


def solve_answer(nonce: str, host: str) -> str:
    """The emulated challenge's answer: what a real browser's JavaScript would compute."""
    return hashlib.sha256(f"{nonce}:{host}".encode()).hexdigest()


def _ray() -> str:
    return secrets.token_hex(8) + "-FRA"


def _wants_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip", "*"):
            q = re.search(r"q\s*=\s*([0-9.]+)", params)
            if q is None or float(q.group(1) or 0) > 0:
                return True
    return False


_MARKERS = """\
<p>Questions? <a href="/cdn-cgi/l/email-protection#3e575058517e5b465f534e525b105d5153">\
[email&#160;protected]</a></p>
<script data-cfasync="false" \
src="/cdn-cgi/scripts/5c5dd728/cloudflare-static/email-decode.min.js"></script>
<script defer src="https://static.cloudflareinsights.com/beacon.min.js" \
data-cf-beacon='{{"rayId":"{ray}","version":"2024.11.0","token":"4f2d8c1e9b7a4e0f"}}'></script>
<script>(function(){{function c(){{var b=a.contentDocument||a.contentWindow.document;if(b){{\
var d=b.createElement('script');d.innerHTML="window.__CF$cv$params={{r:'{ray_id}',t:'{t}'}};\
var a=document.createElement('script');a.nonce='';\
a.src='/cdn-cgi/challenge-platform/scripts/jsd/main.js';\
document.getElementsByTagName('head')[0].appendChild(a);";\
b.getElementsByTagName('head')[0].appendChild(d)}}}}if(document.body){{\
var a=document.createElement('iframe');a.height=1;a.width=1;a.style.position='absolute';\
a.style.top=0;a.style.left=0;a.style.border='none';a.style.visibility='hidden';\
document.body.appendChild(a);c()}}}})();</script>
"""


def _markers(ray: str) -> str:
    return _MARKERS.format(ray=ray, ray_id=ray.split("-")[0], t=str(int(time.time())))


def _page_html(host: str, path: str, ray: str, extra: str = "") -> str:
    label = html.escape(f"{host} {path}")
    return (
        f"<html><head><title>{label}</title></head>"
        f'<body><h1 id="content">{label}</h1>\n'
        f"<p>An ordinary page served through Cloudflare.</p>\n{extra}{_markers(ray)}"
        "</body></html>\n"
    )


_CHALLENGE_STYLE = (
    "<style>*{box-sizing:border-box;margin:0;padding:0}html{line-height:1.15;"
    "-webkit-text-size-adjust:100%;color:#313131;font-family:system-ui,-apple-system,"
    'BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}'
    "body{display:flex;flex-direction:column;height:100vh;min-height:100vh}"
    ".main-content{margin:8rem auto;max-width:60rem;padding-left:1.5rem}"
    ".h2{font-size:1.5rem;font-weight:500;line-height:2.25rem}</style>"
)


def _challenge_html(host: str, ray: str, nonce: str, ctype: str) -> str:
    ehost = html.escape(host)
    now = int(time.time())
    tk = secrets.token_urlsafe(24)
    ru = base64.b64encode(f"http://{host}/".encode()).decode()
    if ctype == "interactive":
        lead = "Verify you are human by completing the action below."
    else:
        lead = "Verifying you are human. This may take a few seconds."
    return (
        '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>'
        '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">'
        '<meta http-equiv="X-UA-Compatible" content="IE=Edge">'
        '<meta name="robots" content="noindex,nofollow">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"{_CHALLENGE_STYLE}</head>"
        '<body class="no-js"><div class="main-wrapper" role="main">'
        '<div class="main-content"><h1 class="zone-name-title h1">'
        f'{ehost}</h1><p class="h2 spacer-bottom">{lead}</p>'
        '<div id="challenge-stage"></div>'
        '<noscript><div id="challenge-error-title"><div class="h2">'
        '<span id="challenge-error-text">Enable JavaScript and cookies to continue</span>'
        "</div></div></noscript>"
        f'<form id="challenge-form" action="{VERIFY_PATH}" method="POST">'
        f'<input type="hidden" name="nonce" value="{nonce}"></form>'
        "</div></div>"
        "<script>(function(){"
        f"window._cf_chl_opt={{cvId:'3',cZone:'{ehost}',cType:'{ctype}',cRay:'{ray}',"
        f"cH:'{nonce}',cUPMDTk:'/?__cf_chl_tk={tk}',cFPWv:'b',cITimeS:'{now}',"
        "cTTimeMs:'1000',cMTimeMs:'390000',cTplV:5,cTplB:'cf',cK:'',"
        f"fa:'/?__cf_chl_f_tk={tk}',md:'{secrets.token_urlsafe(32)}',"
        f"cRq:{{ru:'{ru}',ra:'',rm:'R0VU',d:'',t:'{now}'}}}};"
        "var cpo=document.createElement('script');"
        f"cpo.src='/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray={ray}';"
        "window._cf_chl_opt.cOgUHash=location.hash===''&&location.href.indexOf('#')!==-1"
        "?'#':location.hash;window._cf_chl_opt.cOgUQuery=location.search===''&&"
        "location.href.slice(0,location.href.length-window._cf_chl_opt.cOgUHash.length)"
        ".indexOf('?')!==-1?'?':location.search;"
        "document.getElementsByTagName('head')[0].appendChild(cpo);}());</script>"
        '<div class="footer" role="contentinfo"><div class="footer-inner">'
        f'<div class="text-center" id="footer-text">Ray ID: <code>{ray}</code></div>'
        '<div class="text-center">Performance &amp; security by '
        '<a rel="noopener noreferrer" href="https://www.cloudflare.com" target="_blank">'
        "Cloudflare</a></div></div></div></body></html>\n"
    )


def _legacy_html(host: str, ray: str, nonce: str) -> str:
    ehost = html.escape(host)
    vc = secrets.token_hex(16)
    return (
        '<!DOCTYPE HTML>\n<html lang="en-US">\n<head>\n  <meta charset="UTF-8" />\n'
        '  <meta http-equiv="X-UA-Compatible" content="IE=Edge,chrome=1" />\n'
        '  <meta name="robots" content="noindex, nofollow" />\n'
        "  <title>Just a moment...</title>\n</head>\n<body>\n"
        '<table width="100%" height="100%" cellpadding="20"><tr><td align="center" '
        'valign="middle">\n<div class="cf-browser-verification cf-im-under-attack">\n'
        '<noscript><h1 data-translate="turn_on_js" style="color:#bd2426;">Please turn '
        "JavaScript on and reload the page.</h1></noscript>\n"
        '<div id="cf-content" style="display:none">\n'
        f'<h1><span data-translate="checking_browser">Checking your browser before '
        f"accessing</span> {ehost}.</h1>\n"
        '<p data-translate="process_is_automatic">This process is automatic. Your browser '
        "will redirect to your requested content shortly.</p>\n"
        '<p data-translate="allow_5_secs">Please allow up to 5 seconds&hellip;</p>\n</div>\n'
        f'<form id="challenge-form" action="{VERIFY_PATH}" method="POST" '
        'class="challenge-form" enctype="application/x-www-form-urlencoded">'
        f'<input type="hidden" name="nonce" value="{nonce}">'
        f'<input type="hidden" name="jschl_vc" value="{vc}"/>'
        f'<input type="hidden" name="pass" value="{int(time.time())}.{secrets.randbelow(999)}'
        f'-{secrets.token_hex(5)}"/>'
        '<input type="hidden" id="jschl-answer" name="jschl_answer"/></form>\n'
        '<script type="text/javascript">\n//<![CDATA[\n(function(){\n'
        f"window._cf_chl_opt={{cvId:'2',cType:'non-interactive',cNounce:'{vc[:5]}',"
        f"cRay:'{ray}',cHash:'{secrets.token_hex(8)}',cFPWv:'g'}};\n"
        "var cpo=document.createElement('script');"
        f"cpo.src='/cdn-cgi/challenge-platform/h/g/orchestrate/jsch/v1?ray={ray}';"
        "document.getElementsByTagName('head')[0].appendChild(cpo);\n"
        "setTimeout(function(){document.getElementById('challenge-form').submit();},4000);\n"
        "})();\n//]]>\n</script>\n</div>\n"
        '<div class="attribution"><a href="https://www.cloudflare.com/5xx-error-landing/" '
        f'target="_blank">DDoS protection by Cloudflare</a><br />Ray ID: {ray}</div>\n'
        "</td></tr></table>\n</body>\n</html>\n"
    )


def _block_html(host: str, ray: str, code: int) -> str:
    ehost = html.escape(host)
    if code == 1015:
        headline = "You are being rate limited"
        what = (
            f"The owner of this website ({ehost}) has banned you temporarily from accessing "
            "this website."
        )
    else:
        headline = "Access denied"
        what = (
            f"The owner of this website ({ehost}) has banned your access based on your "
            "browser's signature."
        )
    return (
        '<!DOCTYPE html>\n<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> '
        '<![endif]-->\n<html class="no-js" lang="en-US">\n<head>\n'
        f"<title>Access denied | {ehost} used Cloudflare to restrict access</title>\n"
        '<meta charset="UTF-8" />\n<meta name="robots" content="noindex, nofollow" />\n'
        '<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/main.css" />\n'
        "</head>\n<body>\n"
        '<div id="cf-wrapper"><div id="cf-error-details" class="p-0">\n'
        '<header class="mx-auto pt-10 lg:pt-6 lg:px-8 w-240 lg:w-full mb-15 antialiased">\n'
        '<h1 class="inline-block md:block mr-2 md:mb-2 font-light text-60 md:text-3xl '
        'text-black-dark leading-tight"><span data-translate="error">Error</span>'
        f"<span>{code}</span></h1>\n"
        f'<span class="inline-block md:block heading-ray-id font-mono text-15 lg:text-sm '
        f'lg:leading-relaxed">Ray ID: {ray} &bull;</span>\n'
        f'<h2 class="text-gray-600 leading-1.3 text-3xl lg:text-2xl font-light">'
        f"{headline}</h2>\n</header>\n"
        '<section class="w-240 lg:w-full mx-auto mb-8 lg:px-8"><div id="what-happened-section"'
        ' class="w-1/2 md:w-full"><h2 class="text-3xl leading-tight font-normal mb-4 '
        'text-black-dark antialiased" data-translate="what_happened">What happened?</h2>'
        f"<p>{what}</p></div></section>\n"
        '<div class="cf-error-footer cf-wrapper w-240 lg:w-full py-10 sm:py-4 sm:px-8 mx-auto '
        'text-center sm:text-left border-solid border-0 border-t border-gray-300">'
        f'<p class="text-13"><span class="cf-footer-item sm:block sm:mb-1">Cloudflare Ray ID: '
        f'<strong class="font-semibold">{ray}</strong></span>'
        '<span class="cf-footer-separator sm:hidden">&bull;</span>'
        '<span class="cf-footer-item sm:block sm:mb-1"><span>Performance &amp; security by'
        '</span> <a rel="noopener noreferrer" href="https://www.cloudflare.com/5xx-error-'
        f'landing?utm_source=errorcode_{code}&utm_campaign={ehost}" id="brand_link" '
        'target="_blank">Cloudflare</a></span></p></div>\n'
        "</div></div>\n</body>\n</html>\n"
    )


class _SiteHandler(EmulatorHandler):
    server_version = "cloudflare"

    def dispatch(self) -> None:
        site: CloudflareSiteEmulator = self.owner
        body = self.read_body()
        site._handle(self, body)


class CloudflareSiteEmulator(EmulatorServer):
    """Loopback website behind an emulated Cloudflare; virtual hosts chosen by Host header."""

    handler_class = _SiteHandler

    def __init__(
        self,
        clearance_ttl: float = 1800.0,
        max_lifetime: float = 900.0,
        authority: WidgetAuthority | None = None,
    ) -> None:
        super().__init__(max_lifetime=max_lifetime)
        self.clearance_ttl = clearance_ttl
        #: Issues the site keys of the gates and verifies the tokens posted to them.
        self.authority = authority if authority is not None else WidgetAuthority()
        self._sitekeys: dict[tuple[str, str], str] = {}
        self._form_secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._hosts: dict[str, str] = {}
        self._secret = secrets.token_bytes(32)
        self._nonces: OrderedDict[str, str] = OrderedDict()
        self._events: list[dict[str, Any]] = []
        self._huge_cache: dict[str, bytes] = {}

    # Configuration ------------------------------------------------------------------------

    def add_host(self, host: str, mode: str = "managed") -> None:
        """Declare a virtual host and how Cloudflare treats it."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        with self._lock:
            self._hosts[host.lower()] = mode

    def set_mode(self, host: str, mode: str) -> None:
        """Change a host's mode at runtime (e.g. turn protection on mid-crawl)."""
        self.add_host(host, mode)

    def mode(self, host: str) -> str:
        with self._lock:
            return self._hosts.get(host.lower(), "open")

    def revoke_all(self) -> None:
        """Invalidate every clearance (and pending nonce) issued so far by rotating the key."""
        with self._lock:
            self._secret = secrets.token_bytes(32)
            self._nonces.clear()

    # Observation --------------------------------------------------------------------------

    @property
    def events(self) -> list[dict[str, Any]]:
        """Snapshot of what happened, one dict per request."""
        with self._lock:
            return [dict(e) for e in self._events]

    def count(self, outcome: str, host: str | None = None, exit: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for e in self._events
                if e["outcome"] == outcome
                and (host is None or e["host"] == host.lower())
                and (exit is None or e["exit"] == exit)
            )

    def gate_failures(self, host: str | None = None, kindpath: str | None = None) -> list[str]:
        """Why gate posts failed, oldest first (``"reused"``, ``"wrong_action"``, ...)."""
        with self._lock:
            return [
                str(e["reason"])
                for e in self._events
                if e["outcome"] == "gate_fail"
                and (host is None or e["host"] == host.lower())
                and (kindpath is None or e.get("gate") == kindpath)
            ]

    def reset_events(self) -> None:
        with self._lock:
            self._events.clear()

    def _record(
        self,
        host: str,
        path: str,
        method: str,
        exit_id: str,
        ua: str,
        outcome: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            if len(self._events) >= MAX_EVENTS:
                del self._events[: MAX_EVENTS // 10]
            self._events.append(
                {
                    **(detail or {}),
                    "host": host,
                    "path": path,
                    "method": method,
                    "exit": exit_id,
                    "ua": ua,
                    "outcome": outcome,
                    "time": time.time(),
                }
            )

    # Widgets ------------------------------------------------------------------------------

    def sitekey(self, host: str, kind_path: str) -> str:
        """The site key of ``host``'s widget ``kind_path`` (registered on first use)."""
        spec = GATES.get(kind_path)
        if spec is None:
            raise ValueError(f"unknown gate {kind_path!r}; expected one of {list(GATES)}")
        ident = (host.lower(), kind_path)
        with self._lock:
            key = self._sitekeys.get(ident)
            if key is None:
                key = self.authority.register(
                    spec.kind,
                    invisible=spec.invisible,
                    enterprise=spec.enterprise,
                    resp_key=spec.resp_key,
                    v3_cookie=spec.v3_cookie,
                )
                self._sitekeys[ident] = key
            return key

    def _csrf(self, scope: str, session: str) -> str:
        msg = f"{scope}:{session}".encode()
        return hmac.new(self._form_secret, msg, hashlib.sha256).hexdigest()[:32]

    def _csrf_ok(self, scope: str, session: str, given: str) -> bool:
        return hmac.compare_digest(self._csrf(scope, session).encode(), given.encode())

    # Clearance ----------------------------------------------------------------------------

    def _sign(self, secret: bytes, host: str, exit_id: str, ua: str, expiry: str, tok: str):
        msg = "\n".join((host, exit_id, ua, expiry, tok)).encode()
        return hmac.new(secret, msg, hashlib.sha256).hexdigest()[:43]

    def _issue_clearance(self, host: str, exit_id: str, ua: str) -> tuple[str, float]:
        ttl = float(self.clearance_ttl)
        expiry = str(int((time.time() + ttl) * 1000))
        tok = secrets.token_hex(16)
        with self._lock:
            secret = self._secret
        sig = self._sign(secret, host, exit_id, ua, expiry, tok)
        return f"{tok}-{expiry}-1.2.1.1-{sig}", ttl

    def clearance_valid(self, value: str, host: str, exit_id: str, ua: str) -> bool:
        """Would this cf_clearance value pass for (host, exit, User-Agent) right now?"""
        parts = value.split("-")
        if len(parts) != 4:
            return False
        tok, expiry, _, sig = parts
        if not expiry.isdigit() or int(expiry) <= time.time() * 1000:
            return False
        with self._lock:
            secret = self._secret
        expected = self._sign(secret, host, exit_id, ua, expiry, tok)
        return hmac.compare_digest(expected, sig)

    # Request handling ---------------------------------------------------------------------

    def _handle(self, h: EmulatorHandler, body: bytes) -> None:
        host = (h.headers.get("Host") or "").strip().lower()
        if host.startswith("["):
            host = host.split("]")[0] + "]"
        else:
            host = host.rsplit(":", 1)[0] if ":" in host else host
        target = h.path
        if "://" in target.split("?", 1)[0]:  # absolute-form sent straight to the site
            parts = urlsplit(target)
            host = host or (parts.hostname or "")
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        path_only = target.split("?", 1)[0]
        exit_id = h.headers.get(EXIT_HEADER) or "direct"
        ua = h.headers.get("User-Agent") or ""
        method = h.command
        mode = self.mode(host)
        ray = _ray()
        gz = _wants_gzip(h.headers.get("Accept-Encoding") or "")

        def respond(
            status: int,
            html_text: str | bytes,
            outcome: str,
            extra: list[tuple[str, str]] | None = None,
            ctype: str = "text/html; charset=utf-8",
            detail: dict[str, Any] | None = None,
        ) -> None:
            data = html_text.encode() if isinstance(html_text, str) else html_text
            headers: list[tuple[str, str]] = [("CF-RAY", ray)]
            headers.extend(extra or [])
            headers.append(
                (
                    "Set-Cookie",
                    f"__cf_bm={secrets.token_urlsafe(40)}; Path=/; Max-Age=1800; HttpOnly",
                )
            )
            headers.append(("Vary", "Accept-Encoding"))
            if gz and data:
                data = gzip.compress(data, compresslevel=5, mtime=0)
                headers.append(("Content-Encoding", "gzip"))
            self._record(host, target, method, exit_id, ua, outcome, detail)
            h.send_bytes(status, data, headers, content_type=ctype)

        no_store = [
            (
                "Cache-Control",
                "private, max-age=0, no-store, no-cache, must-revalidate, "
                "post-check=0, pre-check=0",
            ),
            ("Expires", "Thu, 01 Jan 1970 00:00:01 GMT"),
        ]

        if mode == "block_1020":
            respond(403, _block_html(host, ray, 1020), "block", no_store)
            return
        if mode == "block_1015":
            respond(429, _block_html(host, ray, 1015), "block", no_store)
            return

        if method == "POST" and path_only == VERIFY_PATH:
            form = parse_qs(body.decode("latin-1"), keep_blank_values=True)
            nonce = (form.get("nonce") or [""])[0]
            answer = (form.get("answer") or [""])[0]
            with self._lock:
                nonce_host = self._nonces.get(nonce)
            ok = (
                bool(nonce)
                and nonce_host == host
                and hmac.compare_digest(answer, solve_answer(nonce, host))
            )
            if not ok:
                respond(403, _challenge_reject_html(host, ray), "verify_fail", no_store)
                return
            value, ttl = self._issue_clearance(host, exit_id, ua)
            max_age = max(1, math.ceil(ttl))
            respond(
                200,
                "<html><head><title>Verified</title></head><body>OK</body></html>\n",
                "verify_ok",
                [
                    *no_store,
                    ("Set-Cookie", f"cf_clearance={value}; Max-Age={max_age}; Path=/; HttpOnly"),
                ],
            )
            return

        if mode in ("managed", "interactive", "legacy") and not self._has_clearance(
            h.headers.get_all("Cookie") or [], host, exit_id, ua
        ):
            nonce = secrets.token_hex(16)
            with self._lock:
                self._nonces[nonce] = host
                while len(self._nonces) > MAX_NONCES:
                    self._nonces.popitem(last=False)
            common = [
                *no_store,
                ("Referrer-Policy", "same-origin"),
                ("X-Frame-Options", "SAMEORIGIN"),
                (
                    "Permissions-Policy",
                    "accelerometer=(),autoplay=(),browsing-topics=(),"
                    "camera=(),clipboard-read=(),clipboard-write=(),geolocation=(),gyroscope=()",
                ),
            ]
            if mode == "legacy":
                respond(503, _legacy_html(host, ray, nonce), "challenge", common)
            else:
                respond(
                    403,
                    _challenge_html(host, ray, nonce, mode),
                    "challenge",
                    [("cf-mitigated", "challenge"), *common],
                )
            return

        self._serve_page(respond, host, target, path_only, method, body, h, ray)

    def _has_clearance(self, cookie_headers: list[str], host: str, exit_id: str, ua: str):
        for header in cookie_headers:
            for item in header.split(";"):
                name, _, value = item.strip().partition("=")
                if name == "cf_clearance" and self.clearance_valid(
                    value.strip(), host, exit_id, ua
                ):
                    return True
        return False

    def _serve_page(
        self,
        respond: Any,
        host: str,
        target: str,
        path_only: str,
        method: str,
        body: bytes,
        h: EmulatorHandler,
        ray: str,
    ) -> None:
        cache = [("Cache-Control", "max-age=0"), ("CF-Cache-Status", "DYNAMIC")]
        if method in ("GET", "HEAD", "POST") and self._serve_captcha_page(
            respond, host, path_only, method, body, h, ray
        ):
            return
        status_match = re.fullmatch(r"/status/(\d{3})", path_only)
        if status_match:
            status = int(status_match.group(1))
            if not 200 <= status <= 599:
                respond(400, _page_html(host, target, ray, "<p>Bad status.</p>\n"), "page")
                return
            if status in (204, 304):
                respond(status, b"", "page", cache)
                return
            note = f'<p id="status">Status {status}</p>\n'
            respond(status, _page_html(host, target, ray, note), "page", cache)
            return
        if path_only == "/huge":
            respond(200, self._huge(host, target, ray), "page", cache)
            return
        extra = ""
        if method not in ("GET", "HEAD"):
            ctype = h.headers.get("Content-Type") or ""
            posted = html.escape(body.decode("utf-8", "replace"))
            extra = f'<pre id="posted">{posted}</pre>\n<p id="ctype">{html.escape(ctype)}</p>\n'
        respond(200, _page_html(host, target, ray, extra), "page", cache)

    def _huge(self, host: str, target: str, ray: str) -> bytes:
        key = f"{host} {target}"
        with self._lock:
            cached = self._huge_cache.get(key)
        if cached is not None:
            return cached
        head = _page_html(host, target, ray).encode()
        cut = head.rindex(b"</body>")
        line = b"<p>" + b"Lorem ipsum dolor sit amet, consectetur adipiscing. " * 3 + b"</p>\n"
        filler_len = max(0, HUGE_SIZE - len(head))
        count, rest = divmod(filler_len, len(line))
        data = head[:cut] + line * count + b"\n" * rest + head[cut:]
        with self._lock:
            if len(self._huge_cache) > 4:
                self._huge_cache.clear()
            self._huge_cache[key] = data
        return data

    # Captcha pages ------------------------------------------------------------------------

    def _serve_captcha_page(
        self,
        respond: Any,
        host: str,
        path: str,
        method: str,
        body: bytes,
        h: EmulatorHandler,
        ray: str,
    ) -> bool:
        """Serve the gate, widget, image-captcha and article paths; False for other paths."""
        cookies = _request_cookies(h)
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        post = method == "POST"
        no_store = [("Cache-Control", "private, no-store")]

        gate = re.fullmatch(r"/gate/([a-z0-9-]+)/([A-Za-z0-9_-]+)", path)
        if gate and gate.group(1) in GATES:
            self._gate(respond, host, gate.group(1), gate.group(2), post, form, cookies, ray)
            return True
        widget = re.fullmatch(r"/widget/(turnstile|recaptcha-v2)/([A-Za-z0-9_-]+)", path)
        if widget and not post:
            kindpath, name = widget.groups()
            page = _widget_page(kindpath, name, self.sitekey(host, kindpath), ray)
            respond(200, page, "widget_page", no_store, detail={"gate": kindpath, "name": name})
            return True
        if path == "/widget/verify" and post:
            kindpath = _field(form, "kindpath")
            if kindpath in GATES:
                spec = GATES[kindpath]
                verdict = self.authority.verify(
                    _field(form, "token"),
                    self.sitekey(host, kindpath),
                    action=spec.action,
                    resp_key=_field(form, "respKey") or None,
                )
                ok, reason = verdict.ok, verdict.reason
            else:
                ok, reason = False, "unknown_kindpath"
            respond(
                200,
                json.dumps({"ok": ok, "reason": reason}),
                "widget_ok" if ok else "widget_fail",
                no_store,
                "application/json",
                detail={"gate": kindpath, "reason": reason},
            )
            return True
        image_form = re.fullmatch(r"/(captcha-form|captcha-inline|login)/([A-Za-z0-9_-]+)", path)
        if image_form:
            flavour, name = image_form.groups()
            self._image_gate(respond, flavour, name, post, form, cookies, ray)
            return True
        image = re.fullmatch(r"/captcha/([A-Za-z0-9_-]+)\.png", path)
        if image and not post:
            sid = cookies.get("login_sid")
            if not sid:
                respond(
                    403,
                    _simple_page("Forbidden", "<p>No session.</p>", ray),
                    "captcha_image_denied",
                    no_store,
                )
                return True
            png = self.authority.new_image(sid)
            respond(200, png, "captcha_image", no_store, "image/png")
            return True
        v3page = re.fullmatch(r"/(v3-everywhere|v3-shop)/([A-Za-z0-9_-]+)", path)
        if v3page:
            # reCAPTCHA v3 as most sites use it: the script on every page, and a content
            # page's own form (an add-to-cart) guarded by it. Neither is a gate.
            flavour, name = v3page.groups()
            key = self.sitekey(host, "recaptcha-v3")
            if post:
                respond(
                    200,
                    _simple_page("Cart", "<p id='content'>ADDED TO CART</p>", ray),
                    "cart_add",
                    no_store,
                )
                return True
            prose = "<p>A fine product, described at length for its many admirers.</p>" * 40
            cart_form = (
                f'<form id="cart" method="post" action="/{flavour}/{name}">'
                '<input type="hidden" name="g-recaptcha-response">'
                '<button type="submit">Add to cart</button></form>'
                if flavour == "v3-shop"
                else ""
            )
            page = (
                f'<script src="https://www.google.com/recaptcha/api.js?render={key}"></script>'
                f'<h1 id="content">Product {html.escape(name)}</h1>{prose}{cart_form}'
                f"<script>grecaptcha.ready(function(){{grecaptcha.execute('{key}', "
                "{action: 'homepage'});});</script>"
            )
            respond(200, _simple_page("Product", page, ray), "page", no_store)
            return True
        signup = re.fullmatch(r"/signup/([A-Za-z0-9_-]+)", path)
        if signup:
            # A Turnstile inside a form with fields to fill: not a gate the add-on may
            # submit on its own; a spider fills it and gets a token through the API.
            name = signup.group(1)
            key = self.sitekey(host, "turnstile")
            if post:
                verdict = self.authority.verify(
                    _field(form, "cf-turnstile-response"), key, action="continue"
                )
                ok = verdict.ok and bool(_field(form, "email"))
                reason = verdict.reason if not verdict.ok else ("ok" if ok else "no_email")
                body_html = (
                    f'<h1 id="content">Signed up {html.escape(name)}</h1>'
                    if ok
                    else f'<p class="error" id="signup-error">{reason}</p>'
                )
                respond(
                    200,
                    _simple_page("Sign up", body_html, ray),
                    "gate_ok" if ok else "gate_fail",
                    no_store,
                    detail={"gate": "signup", "name": name, "reason": reason},
                )
                return True
            page = (
                f'{_TURNSTILE_API}<form id="signup" method="post" action="/signup/{name}">'
                '<input type="email" name="email" placeholder="you@example.com">'
                f'<div class="cf-turnstile" data-sitekey="{key}" data-action="continue"></div>'
                '<button type="submit">Sign up</button></form>'
            )
            respond(200, _simple_page("Sign up", page, ray), "gate", no_store)
            return True
        if path == "/article/recaptcha" and not post:
            respond(200, _article_html(ray), "page", [("Cache-Control", "max-age=0")])
            return True
        return False

    def _gate(
        self,
        respond: Any,
        host: str,
        kindpath: str,
        name: str,
        post: bool,
        form: dict[str, list[str]],
        cookies: dict[str, str],
        ray: str,
    ) -> None:
        spec = GATES[kindpath]
        sitekey = self.sitekey(host, kindpath)
        detail: dict[str, Any] = {"gate": kindpath, "name": name}
        no_store = [("Cache-Control", "private, no-store")]
        sid = cookies.get("gate_sid")
        reason = ""
        if post:
            if not sid:
                reason = "no_session"
            elif not self._csrf_ok("gate", sid, _field(form, "csrf")):
                reason = "bad_csrf"
            elif _field(form, "next") != f"/content/{name}" or _field(form, "continue") != "1":
                reason = "missing_fields"
            else:
                verdict = self.authority.verify(
                    _field(form, spec.field),
                    sitekey,
                    action=spec.action,
                    resp_key=_field(form, "respKey") if spec.resp_key else None,
                    cookie=cookies.get("_GRECAPTCHA") if spec.v3_cookie else None,
                )
                if verdict.ok:
                    page = _content_page(
                        name,
                        f'<h1 id="content">Content behind gate {html.escape(name)}</h1>'
                        f'<p id="gate-kind">{kindpath}</p>',
                        ray,
                    )
                    respond(200, page, "gate_ok", no_store, detail=detail)
                    return
                reason = verdict.reason
        extra = list(no_store)
        if not sid:
            sid = secrets.token_urlsafe(24)
            extra.append(("Set-Cookie", f"gate_sid={sid}; Path=/; HttpOnly; SameSite=Lax"))
        page = _gate_page(
            kindpath, name, sitekey, self._csrf("gate", sid), secrets.token_hex(8), reason, ray
        )
        if reason:
            respond(200, page, "gate_fail", extra, detail={**detail, "reason": reason})
        else:
            respond(200, page, "gate", extra, detail=detail)

    def _image_gate(
        self,
        respond: Any,
        flavour: str,
        name: str,
        post: bool,
        form: dict[str, list[str]],
        cookies: dict[str, str],
        ray: str,
    ) -> None:
        detail: dict[str, Any] = {"gate": flavour, "name": name}
        no_store = [("Cache-Control", "private, no-store")]
        sid = cookies.get("login_sid")
        reason = ""
        if post:
            if not sid:
                reason = "no_session"
            elif not self._csrf_ok("login", sid, _field(form, "csrf")):
                reason = "bad_csrf"
            elif not self.authority.check_image(sid, _field(form, "code")):
                reason = "wrong_code"
            elif flavour == "login" and (
                _field(form, "username") != "demo" or _field(form, "password") != "demo"
            ):
                reason = "wrong_credentials"
            else:
                page = _content_page(
                    name,
                    f'<h1 id="content">Content behind image captcha {html.escape(name)}</h1>',
                    ray,
                )
                respond(200, page, "gate_ok", no_store, detail=detail)
                return
        extra = list(no_store)
        if not sid:
            sid = secrets.token_urlsafe(24)
            extra.append(("Set-Cookie", f"login_sid={sid}; Path=/; HttpOnly; SameSite=Lax"))
        if flavour == "captcha-inline":
            png = self.authority.new_image(sid)
            src = "data:image/png;base64," + base64.b64encode(png).decode()
        else:
            src = f"/captcha/{name}.png"
        page = _image_form_page(flavour, name, self._csrf("login", sid), src, reason, ray)
        if reason:
            respond(200, page, "gate_fail", extra, detail={**detail, "reason": reason})
        else:
            respond(200, page, "gate", extra, detail=detail)


def _challenge_reject_html(host: str, ray: str) -> str:
    return (
        "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head>"
        f"<body><h1>Sorry, the challenge answer for {html.escape(host)} was not accepted."
        f"</h1><p>Ray ID: {ray}</p></body></html>\n"
    )


# Captcha pages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _GateSpec:
    """One gate flavour: the widget kind, the field its token comes back in, the action the
    site checks, and the options its site key is registered with."""

    kind: str
    field: str
    action: str | None = None
    invisible: bool = False
    enterprise: bool = False
    resp_key: bool = False
    v3_cookie: bool = False


GATES: dict[str, _GateSpec] = {
    "turnstile": _GateSpec("turnstile", "cf-turnstile-response", "continue"),
    "turnstile-field": _GateSpec("turnstile", "ts-answer", "continue"),
    "recaptcha-v2": _GateSpec("recaptcha_v2", "g-recaptcha-response"),
    "recaptcha-v2-invisible": _GateSpec("recaptcha_v2", "g-recaptcha-response", invisible=True),
    "recaptcha-v3": _GateSpec("recaptcha_v3", "g-recaptcha-response", "submit_gate"),
    "recaptcha-v2-enterprise": _GateSpec("recaptcha_v2", "g-recaptcha-response", enterprise=True),
    "recaptcha-v3-enterprise": _GateSpec(
        "recaptcha_v3", "g-recaptcha-response", "login", enterprise=True
    ),
    "hcaptcha": _GateSpec("hcaptcha", "h-captcha-response"),
    "recaptcha-v2-respkey": _GateSpec("recaptcha_v2", "g-recaptcha-response", resp_key=True),
    "recaptcha-v3-cookie": _GateSpec(
        "recaptcha_v3", "g-recaptcha-response", "submit_gate", v3_cookie=True
    ),
}
#: Kind paths of ``/widget/<kindpath>/<name>`` (a widget outside any form).
WIDGET_KINDPATHS = ("turnstile", "recaptcha-v2")

_SEARCH_FORM = (
    '<form action="/search" method="get"><input type="text" name="q">'
    "<button>Search</button></form>"
)
_CONTINUE = '<button type="submit" name="continue" value="1">Continue</button>'
_TURNSTILE_API = (
    '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>'
)
_RECAPTCHA_API = '<script src="https://www.google.com/recaptcha/api.js" async defer></script>'
_V3_INPUT = '<input type="hidden" name="g-recaptcha-response" id="g-recaptcha-response">'


def _field(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


def _request_cookies(h: EmulatorHandler) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for header in h.headers.get_all("Cookie") or []:
        for item in header.split(";"):
            name, sep, value = item.strip().partition("=")
            if sep and name:
                cookies.setdefault(name, value.strip())
    return cookies


def _widget_markup(kindpath: str, key: str, cdata: str) -> tuple[str, str, str, str]:
    """(head scripts, markup inside the form, script after the form, submit button)."""
    if kindpath in ("turnstile", "turnstile-field"):
        field = ' data-response-field-name="ts-answer"' if kindpath == "turnstile-field" else ""
        div = (
            f'<div class="cf-turnstile" data-sitekey="{key}" data-action="continue" '
            f'data-cdata="{cdata}"{field}></div>'
        )
        return _TURNSTILE_API, div, "", _CONTINUE
    if kindpath == "recaptcha-v2-invisible":
        button = (
            f'<button class="g-recaptcha" data-sitekey="{key}" data-callback="onSubmit" '
            'data-size="invisible" type="submit" name="continue" value="1">Continue</button>'
        )
        script = (
            "<script>function onSubmit(token) { "
            'document.getElementById("gate-form").submit(); }</script>'
        )
        return _RECAPTCHA_API, "", script, button
    if kindpath in ("recaptcha-v3", "recaptcha-v3-cookie", "recaptcha-v3-enterprise"):
        enterprise = kindpath == "recaptcha-v3-enterprise"
        api = "enterprise.js" if enterprise else "api.js"
        ns = "grecaptcha.enterprise" if enterprise else "grecaptcha"
        action = GATES[kindpath].action
        head = f'<script src="https://www.google.com/recaptcha/{api}?render={key}"></script>'
        script = (
            f"<script>{ns}.ready(function() {{ {ns}.execute('{key}', {{action: '{action}'}})"
            ".then(function(token) { document.getElementById('g-recaptcha-response').value = "
            "token; }); });</script>"
        )
        return head, _V3_INPUT, script, _CONTINUE
    if kindpath == "hcaptcha":
        head = '<script src="https://js.hcaptcha.com/1/api.js" async defer></script>'
        return head, f'<div class="h-captcha" data-sitekey="{key}"></div>', "", _CONTINUE
    div = f'<div class="g-recaptcha" data-sitekey="{key}"></div>'
    if kindpath == "recaptcha-v2-enterprise":
        head = '<script src="https://www.google.com/recaptcha/enterprise.js" async defer></script>'
        return head, div, "", _CONTINUE
    return _RECAPTCHA_API, div, "", _CONTINUE  # recaptcha-v2, recaptcha-v2-respkey


def _gate_page(
    kindpath: str, name: str, key: str, csrf: str, cdata: str, error: str, ray: str
) -> str:
    head, inside, after, button = _widget_markup(kindpath, key, cdata)
    ename = html.escape(name)
    error_html = f'<p class="error" id="gate-error">{html.escape(error)}</p>' if error else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Verify you are human</title>{head}</head>\n"
        f"<body><header>{_SEARCH_FORM}</header>\n"
        f"<main><h1>One more step</h1>{error_html}"
        f"<p>Please confirm you are human to continue to {ename}.</p>\n"
        f'<form id="gate-form" method="post" action="/gate/{kindpath}/{ename}">'
        f'<input type="hidden" name="csrf" value="{csrf}">'
        f'<input type="hidden" name="next" value="/content/{ename}">'
        f"{inside}{button}</form>{after}</main>\n{_markers(ray)}</body></html>\n"
    )


def _content_page(name: str, inner: str, ray: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Content {html.escape(name)}</title></head>\n"
        f"<body><header>{_SEARCH_FORM}</header>\n<main>{inner}"
        "<p>Thanks for verifying. Here is what you asked for.</p></main>\n"
        f"{_markers(ray)}</body></html>\n"
    )


def _simple_page(title: str, inner: str, ray: str) -> str:
    return (
        f"<html><head><title>{html.escape(title)}</title></head><body>{inner}\n"
        f"{_markers(ray)}</body></html>\n"
    )


def _widget_page(kindpath: str, name: str, key: str, ray: str) -> str:
    ename = html.escape(name)
    if kindpath == "turnstile":
        api = _TURNSTILE_API
        div = f'<div class="cf-turnstile" data-sitekey="{key}" data-action="continue"></div>'
    else:
        api = _RECAPTCHA_API
        div = f'<div class="g-recaptcha" data-sitekey="{key}"></div>'
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Listing {ename}</title></head>\n"
        f"<body><header>{_SEARCH_FORM}</header>\n"
        f'<main><h1 id="content">Listing {ename}</h1>'
        "<p>Prove you are human to reveal the seller's phone number.</p>\n"
        f'{api}{div}<p id="phone">hidden</p></main>\n{_markers(ray)}</body></html>\n'
    )


def _image_form_page(flavour: str, name: str, csrf: str, src: str, error: str, ray: str) -> str:
    ename = html.escape(name)
    error_html = f'<p class="error" id="captcha-error">{html.escape(error)}</p>' if error else ""
    login = ""
    if flavour == "login":
        login = (
            '<label>User <input type="text" name="username"></label>'
            '<label>Password <input type="password" name="password"></label>'
        )
    title = "Sign in" if flavour == "login" else "Security check"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n"
        f"<body><header>{_SEARCH_FORM}</header>\n<main><h1>{title}</h1>{error_html}\n"
        f'<form id="captcha-form" method="post" action="/{flavour}/{ename}">'
        f'<input type="hidden" name="csrf" value="{csrf}">{login}'
        f'<img id="captcha" src="{src}" alt="captcha">'
        '<label>Type the characters <input type="text" name="code" autocomplete="off">'
        '</label><button type="submit" name="go" value="1">Send</button></form></main>\n'
        f"{_markers(ray)}</body></html>\n"
    )


def _article_html(ray: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Choosing between reCAPTCHA, Turnstile and hCaptcha</title>"
        '<script>window.cfg = {"captchaProvider": "recaptcha", '
        '"hint": "grecaptcha.execute"};</script></head>\n'
        f"<body><header>{_SEARCH_FORM}</header>\n<article>"
        '<h1 id="content">Choosing between reCAPTCHA, Turnstile and hCaptcha</h1>\n'
        "<p>Google reCAPTCHA v2 shows the familiar checkbox, while reCAPTCHA v3 scores "
        "visitors silently. Cloudflare Turnstile and hCaptcha are the usual alternatives; "
        "all of them hand the page a token the server must verify.</p>\n"
        "<p>A v2 widget is a div with the class g-recaptcha and a data-sitekey:</p>\n"
        "<pre><code>&lt;script src=&quot;https://www.google.com/recaptcha/api.js&quot; async "
        'defer&gt;&lt;/script&gt;\n&lt;div class="g-recaptcha" data-sitekey="6Lc..."&gt;'
        "&lt;/div&gt;</code></pre>\n"
        "<p>With v3 you call execute with an action name:</p>\n"
        "<pre><code>grecaptcha.execute('6Lc...', {action: 'homepage'})"
        ".then(function(token) { /* send it */ });</code></pre>\n"
        "<p>Turnstile looks alike: "
        '<code>&lt;div class="cf-turnstile" data-sitekey="0x4AAAAAAA..."&gt;&lt;/div&gt;'
        "</code>, and the token arrives in cf-turnstile-response. hCaptcha uses "
        '<code>&lt;div class="h-captcha" data-sitekey="..."&gt;</code> and '
        "h-captcha-response.</p>\n"
        "</article>\n"
        f"{_markers(ray)}</body></html>\n"
    )
