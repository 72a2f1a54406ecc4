"""The emulated website: Cloudflare's challenges and blocks, captcha gates, login forms,
the walls beyond Cloudflare (AWS WAF, DataDome, Imperva, Amazon's robot check). Only what
a real solve yields lets a request through.

Its face is :class:`CloudflareSiteEmulator`; the modules behind it are internal.
"""

from ._emulator import CloudflareSiteEmulator

__all__ = ["CloudflareSiteEmulator"]
