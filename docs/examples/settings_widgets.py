# settings.py: what to do with the captcha widgets pages carry, per kind
ADDONS = {"scrapy_captcha.Addon": 500}
CAPTCHA_PROVIDER = "capsolver"
CAPTCHA_API_KEY = "CAP-..."

CAPTCHA_WIDGETS = {
    "turnstile": "submit",  # the default: solve a gate form and submit it
    "recaptcha_v2": "token",  # solve, and hand the token to the spider
    "recaptcha_v3": "ignore",  # leave alone (a site that loads it on every page)
}
