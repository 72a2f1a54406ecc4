"""Signals the add-on sends, for a spider or an extension to connect to with
``crawler.signals.connect(handler, signal=...)``, as Scrapy's own signals.

Each is sent with ``send_catch_log`` (a failing handler is logged, never breaks the crawl);
handlers take the keyword arguments named below (and ``**kwargs`` for those added later).
"""

from __future__ import annotations

#: A wall or captcha was found on a response. Arguments: ``request``, ``response``,
#: ``kind`` (``cloudflare``, ``turnstile``, ``recaptcha_v2``, ...), ``variant``.
captcha_detected = object()

#: A solve landed. Arguments: ``kind``, ``provider`` (the service that solved it),
#: ``task_id``, ``cost`` (USD, None when unknown), ``seconds``, ``where`` (what it was for).
captcha_solved = object()

#: A request gave up on a page it could not get past (it goes to the errback as
#: ``CaptchaUnsolved`` unless handled). Arguments: ``request``, ``response`` (None when the
#: request was not sent), ``kind``, ``reason``.
captcha_unsolved = object()

#: The budget is spent (CAPTCHA_MAX_SOLVES or CAPTCHA_MAX_COST): no new solve starts.
#: Arguments: ``limit`` (the setting's name), ``tasks`` (created), ``spent`` (USD).
captcha_budget_exhausted = object()
