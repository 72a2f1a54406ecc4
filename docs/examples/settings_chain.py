# settings.py: two services in failover order, your own prices, a budget
ADDONS = {"scrapy_captcha.Addon": 500}

CAPTCHA_PROVIDERS = ["capsolver", "anti-captcha"]
CAPTCHA_API_KEYS = {"capsolver": "CAP-...", "anti-captcha": "0f1e..."}
# A service that fails 3 solves in a row rests while the next one takes its solves.
CAPTCHA_FAILOVER_AFTER = 3

# USD per solved task, where your contract differs from the list prices.
CAPTCHA_PRICES = {"capsolver": {"cloudflare": 0.0012, "turnstile": 0.0012}}
CAPTCHA_MAX_COST = 20.0  # USD
CAPTCHA_MAX_SOLVES = 5000  # tasks
CAPTCHA_CLOSE_ON_BUDGET = True  # close the spider once the budget is spent

CAPTCHA_PROXY = "http://user:password@proxy.example:8000"
