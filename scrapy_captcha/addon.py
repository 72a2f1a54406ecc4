"""``ADDONS = {"scrapy_captcha.Addon": 500}`` installs the extension and the three
downloader middlewares."""

from __future__ import annotations

from scrapy.settings import BaseSettings

from scrapy_captcha.middleware import COMPONENTS, EXTENSION_PRIORITY, CaptchaExtension


class Addon:
    """Scrapy add-on: a user-set priority for any of the components is respected."""

    def update_settings(self, settings: BaseSettings) -> None:
        for component, priority in COMPONENTS.items():
            settings.setdefault_in_component_priority_dict(
                "DOWNLOADER_MIDDLEWARES", component, priority
            )
        settings.setdefault_in_component_priority_dict(
            "EXTENSIONS", CaptchaExtension, EXTENSION_PRIORITY
        )
