"""Settings of the example project. With a real solver account:

    cd example_project
    CAPTCHA_API_KEY=... CAPTCHA_PROXY=http://user:pass@proxy:port scrapy crawl catalog \
        -a sites=https://your-site.example -a pages=50

``demo.py`` runs the same spider offline against the emulators of scrapy_captcha.testing.
"""

import os

BOT_NAME = "shop"
SPIDER_MODULES = ["shop.spiders"]
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16

ADDONS = {"scrapy_captcha.Addon": 500}

CAPTCHA_PROVIDER = os.environ.get("CAPTCHA_PROVIDER", "1captcha")
CAPTCHA_API_KEY = os.environ.get("CAPTCHA_API_KEY", "")
CAPTCHA_PROXY = os.environ.get("CAPTCHA_PROXY") or None
CAPTCHA_MAX_SOLVES = 20  # never spend more than this on one crawl

# Several crawler processes share solves and clearances through Redis when this is set,
# e.g. redis://:password@host:6379/0 (pip install 'scrapy-captcha[redis]'). With
# scrapy-redis on the same Redis, also set:
#   SCHEDULER = "scrapy_redis.scheduler.Scheduler"
#   DUPEFILTER_CLASS = "scrapy_redis.dupefilter.RFPDupeFilter"
#   REDIS_URL = CAPTCHA_CACHE_URL
# Without it, clearances are kept in .scrapy/captcha (the default file store): a re-run
# within their lifetime pays for none of them again.
if os.environ.get("CAPTCHA_CACHE_URL"):
    CAPTCHA_CACHE_URL = os.environ["CAPTCHA_CACHE_URL"]
