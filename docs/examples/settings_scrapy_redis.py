# settings.py: scrapy-redis workers sharing one queue, one solve per (domain, proxy)
ADDONS = {"scrapy_captcha.Addon": 500}
CAPTCHA_PROVIDER = "capsolver"
CAPTCHA_API_KEY = "CAP-..."

SCHEDULER = "scrapy_redis.scheduler.Scheduler"
DUPEFILTER_CLASS = "scrapy_redis.dupefilter.RFPDupeFilter"
SCHEDULER_PERSIST = True  # several workers: one must not flush the queue when it stops
REDIS_URL = "redis://:password@redis.internal:6379/0"
CAPTCHA_CACHE_URL = REDIS_URL  # the same Redis: requests waiting for a solve are shelved
