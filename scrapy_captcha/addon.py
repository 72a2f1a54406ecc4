"""``ADDONS = {"scrapy_captcha.Addon": 500}`` installs the extension, the three
downloader middlewares and the spider middleware, and registers every ``CAPTCHA_*``
default."""

from __future__ import annotations

from scrapy.settings import BaseSettings

from scrapy_captcha.middleware import (
    COMPONENTS,
    EXTENSION_PRIORITY,
    SPIDER_COMPONENTS,
    CaptchaExtension,
)
from scrapy_captcha.settings import register_defaults


class Addon:
    """Scrapy add-on: a user-set priority for any of the components is respected."""

    @classmethod
    def update_pre_crawler_settings(cls, settings: BaseSettings) -> None:
        """Before any crawler exists (CrawlerProcess, ``scrapy crawl``): the defaults."""
        register_defaults(settings)

    def update_settings(self, settings: BaseSettings) -> None:
        register_defaults(settings)
        for component, priority in COMPONENTS.items():
            settings.setdefault_in_component_priority_dict(
                "DOWNLOADER_MIDDLEWARES", component, priority
            )
        for component, priority in SPIDER_COMPONENTS.items():
            settings.setdefault_in_component_priority_dict(
                "SPIDER_MIDDLEWARES", component, priority
            )
        settings.setdefault_in_component_priority_dict(
            "EXTENSIONS", CaptchaExtension, EXTENSION_PRIORITY
        )
