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

import gzip
import hmac
import html
import math
import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .._server import EXIT_HEADER, EmulatorHandler
from ._cloudflare import (
    MODES,
    VERIFY_PATH,
    _block_html,
    _challenge_html,
    _challenge_reject_html,
    _legacy_html,
    _page_html,
    _ray,
    solve_answer,
)
from ._forms import (
    _article_html,
    _serve_account_login,
    _serve_captcha_image,
    _serve_image_gate,
    _serve_signup,
    _serve_v3_page,
)
from ._gates import (
    GATES,
    WIDGET_KINDPATHS,
    _serve_gate,
    _serve_widget_page,
    _serve_widget_verify,
)
from ._state import MAX_EVENTS as MAX_EVENTS
from ._state import MAX_NONCES, _Respond, _SiteState
from ._walls import WALL_MODES, serve_wall, serve_wall_host

# The implementation lives in the ``_site_*`` modules: ``_site_cloudflare`` (challenge and
# block pages), ``_site_state`` (hosts, events, site keys, clearances), ``_site_gates``
# (widget gates) and ``_site_forms`` (image, sign-up, v3 and article pages); this module is
# the HTTP front that routes a request through the Cloudflare layer to them.

__all__ = [
    "GATES",
    "MODES",
    "VERIFY_PATH",
    "WALL_MODES",
    "WIDGET_KINDPATHS",
    "CloudflareSiteEmulator",
    "solve_answer",
]

HUGE_SIZE = 5 * 1024 * 1024


def _wants_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip", "*"):
            q = re.search(r"q\s*=\s*([0-9.]+)", params)
            if q is None or float(q.group(1) or 0) > 0:
                return True
    return False


class _SiteHandler(EmulatorHandler):
    server_version = "cloudflare"

    def dispatch(self) -> None:
        site: CloudflareSiteEmulator = self.owner
        body = self.read_body()
        site.handle(self, body)


class CloudflareSiteEmulator(_SiteState):
    """Loopback website behind an emulated Cloudflare; virtual hosts chosen by Host header."""

    handler_class = _SiteHandler
    # Request handling ---------------------------------------------------------------------

    def handle(self, h: EmulatorHandler, body: bytes) -> None:
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

        if serve_wall_host(self, respond, host, target, method, body, exit_id, ua):
            return
        if mode in WALL_MODES and serve_wall(
            self, respond, mode, host, target, _request_cookies(h), exit_id, ua
        ):
            return
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

    def _has_clearance(self, cookie_headers: list[str], host: str, exit_id: str, ua: str) -> bool:
        return any(
            name == "cf_clearance" and self.clearance_valid(value, host, exit_id, ua)
            for name, value in _cookie_pairs(cookie_headers)
        )

    def _serve_page(
        self,
        respond: _Respond,
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
        respond: _Respond,
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

        gate = re.fullmatch(r"/gate/([a-z0-9-]+)/([A-Za-z0-9_-]+)", path)
        if gate and gate.group(1) in GATES:
            _serve_gate(
                self, respond, host, gate.group(1), gate.group(2), post, form, cookies, ray
            )
            return True
        widget = re.fullmatch(r"/widget/(turnstile|recaptcha-v2)/([A-Za-z0-9_-]+)", path)
        if widget and not post:
            kindpath, name = widget.groups()
            _serve_widget_page(self, respond, host, kindpath, name, ray)
            return True
        if path == "/widget/verify" and post:
            _serve_widget_verify(self, respond, host, form)
            return True
        image_form = re.fullmatch(r"/(captcha-form|captcha-inline|login)/([A-Za-z0-9_-]+)", path)
        if image_form:
            flavour, name = image_form.groups()
            _serve_image_gate(self, respond, flavour, name, post, form, cookies, ray)
            return True
        image = re.fullmatch(r"/captcha/([A-Za-z0-9_-]+)\.png", path)
        if image and not post:
            _serve_captcha_image(self, respond, cookies, ray)
            return True
        v3page = re.fullmatch(r"/(v3-everywhere|v3-shop)/([A-Za-z0-9_-]+)", path)
        if v3page:
            flavour, name = v3page.groups()
            _serve_v3_page(self, respond, host, flavour, name, post, ray)
            return True
        account = re.fullmatch(r"/account/(turnstile|recaptcha-v2)/([A-Za-z0-9_-]+)", path)
        if account:
            kind_path, name = account.groups()
            _serve_account_login(self, respond, host, kind_path, name, post, form, ray)
            return True
        signup = re.fullmatch(r"/signup/([A-Za-z0-9_-]+)", path)
        if signup:
            _serve_signup(self, respond, host, signup.group(1), post, form, ray)
            return True
        if path == "/article/recaptcha" and not post:
            respond(200, _article_html(ray), "page", [("Cache-Control", "max-age=0")])
            return True
        return False


def _cookie_pairs(cookie_headers: list[str]) -> Iterator[tuple[str, str]]:
    """Every ``name=value`` of the request's Cookie headers, in order (a name may repeat)."""
    for header in cookie_headers:
        for item in header.split(";"):
            name, sep, value = item.strip().partition("=")
            if sep and name:
                yield name, value.strip()


def _request_cookies(h: EmulatorHandler) -> dict[str, str]:
    """The request's cookies by name; the first wins where a name repeats."""
    cookies: dict[str, str] = {}
    for name, value in _cookie_pairs(h.headers.get_all("Cookie") or []):
        cookies.setdefault(name, value)
    return cookies
