"""What the walls' own services do, emulated: AWS's token service (``*.awswaf.com``), the
script Imperva serves (``_Incapsula_Resource``) and DataDome's captcha server. One
:class:`WallAuthority` is shared by the site emulator (which issues the challenges and
checks the cookies that come back) and the solver emulator (whose workers earn them).

Every value is signed with the authority's secret and bound to what the real wall binds
it to: an AWS token to the site's key and host, a ``___utmvc`` to the visitor's Imperva
session, a ``datadome`` cookie to the site, the exit IP and the User-Agent. A forged value,
one earned for another site, session, exit or browser, or an expired one, fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from .widgets import WidgetError

MAX_CHALLENGES = 20_000


def site_of(host: str) -> str:
    """The emulator's "registrable domain": the last two labels of a host name."""
    return ".".join(host.lower().rstrip(".").split(".")[-2:])


class WallAuthority:
    """Challenges and the cookies that answer them, for the walls beyond Cloudflare."""

    def __init__(self, ttl: float = 1800.0) -> None:
        #: seconds an earned cookie or token stays valid
        self.ttl = ttl
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        #: AWS WAF: (iv, context) of live challenges -> (host, key)
        self._aws: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()
        #: Imperva: script keys (``SWJIYLWA``) -> host
        self._scripts: OrderedDict[str, str] = OrderedDict()
        #: DataDome: challenge ids -> (site, exit)
        self._dd: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def _sign(self, *parts: str) -> str:
        msg = "\n".join(parts).encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()[:40]

    def _remember(self, table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        with self._lock:
            table[key] = value
            while len(table) > MAX_CHALLENGES:
                table.popitem(last=False)

    def revoke_all(self) -> None:
        """Invalidate everything issued so far (a site that rotates its keys)."""
        with self._lock:
            self._secret = secrets.token_bytes(32)

    # AWS WAF --------------------------------------------------------------------------------

    def aws_key(self, host: str) -> str:
        """The site's permanent ``gokuProps.key`` (stable per host)."""
        digest = hmac.new(self._secret, f"aws-key\n{host}".encode(), hashlib.sha256).digest()
        return "AQIDAH" + base64.b64encode(digest * 3).decode()

    def aws_challenge(self, host: str) -> tuple[str, str, str]:
        """A fresh challenge for ``host``: (key, iv, context)."""
        key = self.aws_key(host)
        iv = base64.b64encode(secrets.token_bytes(12)).decode()
        context = base64.b64encode(secrets.token_bytes(48)).decode()
        self._remember(self._aws, (iv, context), (host, key))
        return key, iv, context

    def aws_mint(self, key: str, iv: str, context: str, host: str) -> str:
        """The ``aws-waf-token`` a solver's worker earns for a challenge it was given the
        values of (the token service checks they belong together and to that host)."""
        with self._lock:
            issued = self._aws.get((iv, context))
        if issued is None:
            raise WidgetError("ERROR_CAPTCHA_UNSOLVABLE", "unknown or expired iv/context")
        if issued != (host.lower(), key):
            raise WidgetError("ERROR_CAPTCHA_UNSOLVABLE", "key or page does not match")
        expiry = str(int(time.time() + self.ttl))
        nonce = secrets.token_hex(8)
        return f"{nonce}:{expiry}:{self._sign('aws', host.lower(), key, expiry, nonce)}"

    def aws_valid(self, token: str, host: str) -> bool:
        parts = token.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) <= time.time():
            return False
        nonce, expiry, sig = parts
        expected = self._sign("aws", host.lower(), self.aws_key(host.lower()), expiry, nonce)
        return hmac.compare_digest(expected, sig)

    # Imperva --------------------------------------------------------------------------------

    def incap_script(self, host: str) -> str:
        """A fresh script key (``SWJIYLWA``) for ``host``'s challenge page."""
        key = secrets.token_hex(16)
        self._remember(self._scripts, key, host.lower())
        return key

    def utmvc(self, script_key: str, session: str) -> str:
        """The ``___utmvc`` the challenge script computes for an ``incap_ses_*`` value."""
        with self._lock:
            host = self._scripts.get(script_key)
        if host is None:
            raise WidgetError("ERROR_CAPTCHA_UNSOLVABLE", "unknown Incapsula script")
        expiry = str(int(time.time() + self.ttl))
        return f"{expiry}.{self._sign('utmvc', host, session, expiry)}"

    def utmvc_valid(self, value: str, host: str, session: str) -> bool:
        expiry, _, sig = value.partition(".")
        if not expiry.isdigit() or int(expiry) <= time.time():
            return False
        return hmac.compare_digest(self._sign("utmvc", host.lower(), session, expiry), sig)

    # DataDome -------------------------------------------------------------------------------

    def dd_challenge(self, host: str, exit_id: str) -> str:
        """A fresh challenge id (``dd.cid``) for a visitor of ``host`` through ``exit_id``."""
        cid = base64.b64encode(secrets.token_bytes(24)).decode()
        self._remember(self._dd, cid, (site_of(host), exit_id))
        return cid

    def dd_issued(self, cid: str) -> tuple[str, str] | None:
        """(site, exit) a challenge id was issued for."""
        with self._lock:
            return self._dd.get(cid)

    def dd_cookie(self, site: str, exit_id: str, user_agent: str) -> str:
        """A ``datadome`` cookie value for a visitor that passed the captcha."""
        expiry = str(int(time.time() + self.ttl))
        nonce = secrets.token_urlsafe(12)
        return f"{nonce}~{expiry}~{self._sign('dd', site, exit_id, user_agent, expiry, nonce)}"

    def dd_valid(self, value: str, host: str, exit_id: str, user_agent: str) -> bool:
        parts = value.split("~")
        if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) <= time.time():
            return False
        nonce, expiry, sig = parts
        expected = self._sign("dd", site_of(host), exit_id, user_agent, expiry, nonce)
        return hmac.compare_digest(expected, sig)
