# settings.py: fetch through scrapy-impersonate (pip install scrapy-impersonate), so a
# request carrying a clearance also carries the TLS fingerprint of the solver's browser
ADDONS = {"scrapy_captcha.Addon": 500}
CAPTCHA_PROVIDER = "capsolver"
CAPTCHA_API_KEY = "CAP-..."

DOWNLOAD_HANDLERS = {
    "http": "scrapy_impersonate.ImpersonateDownloadHandler",
    "https": "scrapy_impersonate.ImpersonateDownloadHandler",
}
