"""Amazon's robot check (``/errors/validateCaptcha``): an image captcha every service
reads, answered with the form's own fields in the page's session, like any image gate.

Its image sits on Amazon's image host, another site than the page's: the outbound policy
makes one narrow exception for it (:func:`wall_target_allowed`): an https image on
Amazon's own image hosts, for a robot check on an Amazon site. Nothing else is exempt:
the form still goes to the page's own site, internal addresses are still refused.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from scrapy_captcha._kinds import AMAZON
from scrapy_captcha.detect._page import CaptchaImage, xpath_literal

if TYPE_CHECKING:
    from scrapy_captcha.detect._challenge import Challenge
    from scrapy_captcha.detect._page import Page

#: Amazon's storefronts (as detection reads them)
_AMAZON_SITE: Final = re.compile(r"(?:^|\.)amazon\.(?:com|co\.[a-z]{2}|com\.[a-z]{2}|[a-z]{2})$")
#: Amazon's image hosts, where the robot check's image is served
_IMAGE_HOST: Final = re.compile(r"^(?:[a-z0-9-]+\.)*(?:ssl-images-amazon\.com|media-amazon\.com)$")


def wall_target_allowed(wall: str | None, page_host: str, scheme: str, host: str) -> bool:
    """Whether ``wall``'s own image may be fetched from ``host`` for a page on
    ``page_host``: only Amazon's robot check, only over https, only on its image hosts."""
    return (
        wall == AMAZON
        and scheme == "https"
        and _AMAZON_SITE.search(page_host) is not None
        and _IMAGE_HOST.match(host) is not None
    )


def robot_check_image(page: Page, challenge: Challenge) -> CaptchaImage | None:
    """The robot check's image and the form its answer goes into, from what detection
    read (the image URL, the answer field) and the page's own form (submitted with its
    hidden fields kept)."""
    image_url = challenge.params.get("image_url")
    field = challenge.params.get("answer_field")
    if not image_url or not field:
        return None
    found = page.xpath(
        "/descendant::form[contains(@action, '/errors/validateCaptcha')]"
        f"[.//input[@name={xpath_literal(field)}]][1]"
    )
    form = page.enclosing_form(found[0]) if found else None
    if form is None:
        return None
    return CaptchaImage(page.url, field, url=image_url, form=form, wall=AMAZON)
