"""Another service that speaks the createTask / getTaskResult protocol: a small subclass.

Name it in the settings by its import path: CAPTCHA_PROVIDER = "my_provider.MySolver"
"""

from scrapy_captcha import Provider


class MySolver(Provider):
    name = "mysolver"
    base_url = "https://api.mysolver.example"
    task_types = {
        "cloudflare": "AntiCloudflareTask",
        "turnstile": "TurnstileTaskProxyless",
        "image": "ImageToTextTask",
    }
