"""``scrapy settings``, with the add-ons applied as a crawl would apply them.

Why: Scrapy's own ``settings`` command reads the project settings only, never the
``ADDONS``, so ``scrapy settings --getint CAPTCHA_MAX_ATTEMPTS`` printed 0 where every
crawl uses 3. This command (installed under the same name through the ``scrapy.commands``
entry point) is Scrapy's, plus the add-ons' pre-crawler settings (the defaults
scrapy-captcha registers); for projects without add-ons it prints what Scrapy's does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.commands.settings import Command

from scrapy_captcha._compat import apply_pre_crawler_settings

if TYPE_CHECKING:
    import argparse


class SettingsCommand(Command):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        apply_pre_crawler_settings(self.settings)
        super().run(args, opts)
