"""Deprecated: this module moved to :mod:`scrapy_captcha.routes.clearance` (its public names are
also exported by ``scrapy_captcha`` itself). It re-exports that module's public names
for one release, with a ``DeprecationWarning`` when imported."""

from __future__ import annotations

import warnings

from scrapy_captcha.routes.clearance import *  # noqa: F403

warnings.warn(
    "scrapy_captcha.clearance is deprecated: import from scrapy_captcha, or from "
    "scrapy_captcha.routes.clearance",
    DeprecationWarning,
    stacklevel=2,
)
