# settings.py without the add-on system: the same components, at the same priorities
EXTENSIONS = {"scrapy_captcha.CaptchaExtension": 500}
DOWNLOADER_MIDDLEWARES = {
    "scrapy_captcha.CaptchaMiddleware": 585,
    "scrapy_captcha.ClearanceMiddleware": 760,
    "scrapy_captcha.ChallengeCacheGuard": 950,
}
SPIDER_MIDDLEWARES = {"scrapy_captcha.UnsolvedMiddleware": 60}

CAPTCHA_PROVIDER = "capsolver"
CAPTCHA_API_KEY = "CAP-..."
