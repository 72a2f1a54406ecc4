# settings.py: crawler processes share clearances and solves through Redis
# (pip install 'scrapy-captcha[redis]')
ADDONS = {"scrapy_captcha.Addon": 500}
CAPTCHA_PROVIDER = "capsolver"
CAPTCHA_API_KEY = "CAP-..."

CAPTCHA_CACHE_URL = "redis://:password@redis.internal:6379/0"  # rediss:// for TLS
CAPTCHA_CACHE_PREFIX = "myproject:captcha:"  # the default is "scrapy-captcha:"
