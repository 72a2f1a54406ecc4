"""A Cloudflare-protected website emulator.

It answers like a site behind Cloudflare: ordinary pages with Cloudflare markers, managed /
interactive / legacy challenges, and 1020 / 1015 block pages. The "puzzle" is a hash anyone
can compute, so the solver emulator (or a test) can earn a ``cf_clearance`` cookie which, as
on the real service, is bound to the host, the exit IP (proxy) and the exact User-Agent.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import html
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._server import EXIT_HEADER, EmulatorHandler, EmulatorServer

__all__ = ["MODES", "VERIFY_PATH", "CloudflareSiteEmulator", "solve_answer"]

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

    def __init__(self, clearance_ttl: float = 1800.0, max_lifetime: float = 900.0) -> None:
        super().__init__(max_lifetime=max_lifetime)
        self.clearance_ttl = clearance_ttl
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

    def reset_events(self) -> None:
        with self._lock:
            self._events.clear()

    def _record(self, host: str, path: str, method: str, exit_id: str, ua: str, outcome: str):
        with self._lock:
            if len(self._events) >= MAX_EVENTS:
                del self._events[: MAX_EVENTS // 10]
            self._events.append(
                {
                    "host": host,
                    "path": path,
                    "method": method,
                    "exit": exit_id,
                    "ua": ua,
                    "outcome": outcome,
                    "time": time.time(),
                }
            )

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
            self._record(host, target, method, exit_id, ua, outcome)
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


def _challenge_reject_html(host: str, ray: str) -> str:
    return (
        "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head>"
        f"<body><h1>Sorry, the challenge answer for {html.escape(host)} was not accepted."
        f"</h1><p>Ray ID: {ray}</p></body></html>\n"
    )
