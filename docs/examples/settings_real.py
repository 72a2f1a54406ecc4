# settings.py of your Scrapy project: a real solver service and a proxy
import os

ADDONS = {"scrapy_captcha.Addon": 500}

# The service your account is with: "anti-captcha", "2captcha", "capmonster", "capsolver",
# "yescaptcha", "1captcha" or "ez-captcha" (see the services matrix for what each solves).
CAPTCHA_PROVIDER = "capsolver"
CAPTCHA_API_KEY = os.environ["CAPTCHA_API_KEY"]

# A Cloudflare clearance is bound to the exit IP it was solved from: a request without a
# proxy of its own is sent through this one once its domain answers with a challenge.
CAPTCHA_PROXY = "http://user:password@proxy.example:8000"

# Spending stops here (USD); crawling does not: later challenges give up with "budget".
CAPTCHA_MAX_COST = 5.0
