"""``ADDONS = {"scrapy_captcha.Addon": 500}`` installs the three components."""

from __future__ import annotations

from scrapy.settings import BaseSettings

from scrapy_captcha.middleware import CaptchaMiddleware, ChallengeCacheGuard, ClearanceMiddleware

#: component -> priority; see middleware.py for why each sits where it does
PRIORITIES: dict[type, int] = {
    CaptchaMiddleware: 585,
    ClearanceMiddleware: 760,
    ChallengeCacheGuard: 950,
}


class Addon:
    """Scrapy add-on: a user-set priority for any of the components is respected."""

    def update_settings(self, settings: BaseSettings) -> None:
        for component, priority in PRIORITIES.items():
            settings.setdefault_in_component_priority_dict(
                "DOWNLOADER_MIDDLEWARES", component, priority
            )
