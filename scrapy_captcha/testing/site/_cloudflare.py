"""The Cloudflare layer's pages: the ordinary page with its Cloudflare markers, the managed /
interactive and legacy challenges (and the answer a browser's JavaScript would compute), the
rejected-answer page and the 1020 / 1015 block pages."""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time

MODES = ("managed", "interactive", "legacy", "open", "block_1020", "block_1015")
VERIFY_PATH = "/cdn-cgi/challenge-platform/h/b/orchestrate/verify"


def solve_answer(nonce: str, host: str) -> str:
    """The emulated challenge's answer: what a real browser's JavaScript would compute."""
    return hashlib.sha256(f"{nonce}:{host}".encode()).hexdigest()


def _ray() -> str:
    return secrets.token_hex(8) + "-FRA"


_MARKERS = """\
<p>Questions? <a href="/cdn-cgi/l/email-protection#3e575058517e5b465f534e525b105d5153">\
[email&#160;protected]</a></p>
<script data-cfasync="false" \
src="/cdn-cgi/scripts/5c5dd728/cloudflare-static/email-decode.min.js"></script>
<script defer src="https://static.cloudflareinsights.com/beacon.min.js" \
data-cf-beacon='{{"rayId":"{ray}","version":"2024.11.0","token":"4f2d8c1e9b7a4e0f"}}'></script>
<script>(function(){{function c(){{var b=a.contentDocument||a.contentWindow.document;if(b){{\
var d=b.createElement('script');d.innerHTML="window.__CF$cv$params={{r:'{ray_id}',t:'{t}'}};\
var a=document.createElement('script');a.nonce='';\
a.src='/cdn-cgi/challenge-platform/scripts/jsd/main.js';\
document.getElementsByTagName('head')[0].appendChild(a);";\
b.getElementsByTagName('head')[0].appendChild(d)}}}}if(document.body){{\
var a=document.createElement('iframe');a.height=1;a.width=1;a.style.position='absolute';\
a.style.top=0;a.style.left=0;a.style.border='none';a.style.visibility='hidden';\
document.body.appendChild(a);c()}}}})();</script>
"""


def _markers(ray: str) -> str:
    return _MARKERS.format(ray=ray, ray_id=ray.split("-")[0], t=str(int(time.time())))


def _page_html(host: str, path: str, ray: str, extra: str = "") -> str:
    label = html.escape(f"{host} {path}")
    return (
        f"<html><head><title>{label}</title></head>"
        f'<body><h1 id="content">{label}</h1>\n'
        f"<p>An ordinary page served through Cloudflare.</p>\n{extra}{_markers(ray)}"
        "</body></html>\n"
    )


_CHALLENGE_STYLE = (
    "<style>*{box-sizing:border-box;margin:0;padding:0}html{line-height:1.15;"
    "-webkit-text-size-adjust:100%;color:#313131;font-family:system-ui,-apple-system,"
    'BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}'
    "body{display:flex;flex-direction:column;height:100vh;min-height:100vh}"
    ".main-content{margin:8rem auto;max-width:60rem;padding-left:1.5rem}"
    ".h2{font-size:1.5rem;font-weight:500;line-height:2.25rem}</style>"
)


def _challenge_html(host: str, ray: str, nonce: str, ctype: str) -> str:
    ehost = html.escape(host)
    now = int(time.time())
    tk = secrets.token_urlsafe(24)
    ru = base64.b64encode(f"http://{host}/".encode()).decode()
    if ctype == "interactive":
        lead = "Verify you are human by completing the action below."
    else:
        lead = "Verifying you are human. This may take a few seconds."
    return (
        '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>'
        '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">'
        '<meta http-equiv="X-UA-Compatible" content="IE=Edge">'
        '<meta name="robots" content="noindex,nofollow">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"{_CHALLENGE_STYLE}</head>"
        '<body class="no-js"><div class="main-wrapper" role="main">'
        '<div class="main-content"><h1 class="zone-name-title h1">'
        f'{ehost}</h1><p class="h2 spacer-bottom">{lead}</p>'
        '<div id="challenge-stage"></div>'
        '<noscript><div id="challenge-error-title"><div class="h2">'
        '<span id="challenge-error-text">Enable JavaScript and cookies to continue</span>'
        "</div></div></noscript>"
        f'<form id="challenge-form" action="{VERIFY_PATH}" method="POST">'
        f'<input type="hidden" name="nonce" value="{nonce}"></form>'
        "</div></div>"
        "<script>(function(){"
        f"window._cf_chl_opt={{cvId:'3',cZone:'{ehost}',cType:'{ctype}',cRay:'{ray}',"
        f"cH:'{nonce}',cUPMDTk:'/?__cf_chl_tk={tk}',cFPWv:'b',cITimeS:'{now}',"
        "cTTimeMs:'1000',cMTimeMs:'390000',cTplV:5,cTplB:'cf',cK:'',"
        f"fa:'/?__cf_chl_f_tk={tk}',md:'{secrets.token_urlsafe(32)}',"
        f"cRq:{{ru:'{ru}',ra:'',rm:'R0VU',d:'',t:'{now}'}}}};"
        "var cpo=document.createElement('script');"
        f"cpo.src='/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray={ray}';"
        "window._cf_chl_opt.cOgUHash=location.hash===''&&location.href.indexOf('#')!==-1"
        "?'#':location.hash;window._cf_chl_opt.cOgUQuery=location.search===''&&"
        "location.href.slice(0,location.href.length-window._cf_chl_opt.cOgUHash.length)"
        ".indexOf('?')!==-1?'?':location.search;"
        "document.getElementsByTagName('head')[0].appendChild(cpo);}());</script>"
        '<div class="footer" role="contentinfo"><div class="footer-inner">'
        f'<div class="text-center" id="footer-text">Ray ID: <code>{ray}</code></div>'
        '<div class="text-center">Performance &amp; security by '
        '<a rel="noopener noreferrer" href="https://www.cloudflare.com" target="_blank">'
        "Cloudflare</a></div></div></div></body></html>\n"
    )


def _legacy_html(host: str, ray: str, nonce: str) -> str:
    ehost = html.escape(host)
    vc = secrets.token_hex(16)
    return (
        '<!DOCTYPE HTML>\n<html lang="en-US">\n<head>\n  <meta charset="UTF-8" />\n'
        '  <meta http-equiv="X-UA-Compatible" content="IE=Edge,chrome=1" />\n'
        '  <meta name="robots" content="noindex, nofollow" />\n'
        "  <title>Just a moment...</title>\n</head>\n<body>\n"
        '<table width="100%" height="100%" cellpadding="20"><tr><td align="center" '
        'valign="middle">\n<div class="cf-browser-verification cf-im-under-attack">\n'
        '<noscript><h1 data-translate="turn_on_js" style="color:#bd2426;">Please turn '
        "JavaScript on and reload the page.</h1></noscript>\n"
        '<div id="cf-content" style="display:none">\n'
        f'<h1><span data-translate="checking_browser">Checking your browser before '
        f"accessing</span> {ehost}.</h1>\n"
        '<p data-translate="process_is_automatic">This process is automatic. Your browser '
        "will redirect to your requested content shortly.</p>\n"
        '<p data-translate="allow_5_secs">Please allow up to 5 seconds&hellip;</p>\n</div>\n'
        f'<form id="challenge-form" action="{VERIFY_PATH}" method="POST" '
        'class="challenge-form" enctype="application/x-www-form-urlencoded">'
        f'<input type="hidden" name="nonce" value="{nonce}">'
        f'<input type="hidden" name="jschl_vc" value="{vc}"/>'
        f'<input type="hidden" name="pass" value="{int(time.time())}.{secrets.randbelow(999)}'
        f'-{secrets.token_hex(5)}"/>'
        '<input type="hidden" id="jschl-answer" name="jschl_answer"/></form>\n'
        '<script type="text/javascript">\n//<![CDATA[\n(function(){\n'
        f"window._cf_chl_opt={{cvId:'2',cType:'non-interactive',cNounce:'{vc[:5]}',"
        f"cRay:'{ray}',cHash:'{secrets.token_hex(8)}',cFPWv:'g'}};\n"
        "var cpo=document.createElement('script');"
        f"cpo.src='/cdn-cgi/challenge-platform/h/g/orchestrate/jsch/v1?ray={ray}';"
        "document.getElementsByTagName('head')[0].appendChild(cpo);\n"
        "setTimeout(function(){document.getElementById('challenge-form').submit();},4000);\n"
        "})();\n//]]>\n</script>\n</div>\n"
        '<div class="attribution"><a href="https://www.cloudflare.com/5xx-error-landing/" '
        f'target="_blank">DDoS protection by Cloudflare</a><br />Ray ID: {ray}</div>\n'
        "</td></tr></table>\n</body>\n</html>\n"
    )


def _block_html(host: str, ray: str, code: int) -> str:
    ehost = html.escape(host)
    if code == 1015:
        headline = "You are being rate limited"
        what = (
            f"The owner of this website ({ehost}) has banned you temporarily from accessing "
            "this website."
        )
    else:
        headline = "Access denied"
        what = (
            f"The owner of this website ({ehost}) has banned your access based on your "
            "browser's signature."
        )
    return (
        '<!DOCTYPE html>\n<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> '
        '<![endif]-->\n<html class="no-js" lang="en-US">\n<head>\n'
        f"<title>Access denied | {ehost} used Cloudflare to restrict access</title>\n"
        '<meta charset="UTF-8" />\n<meta name="robots" content="noindex, nofollow" />\n'
        '<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/main.css" />\n'
        "</head>\n<body>\n"
        '<div id="cf-wrapper"><div id="cf-error-details" class="p-0">\n'
        '<header class="mx-auto pt-10 lg:pt-6 lg:px-8 w-240 lg:w-full mb-15 antialiased">\n'
        '<h1 class="inline-block md:block mr-2 md:mb-2 font-light text-60 md:text-3xl '
        'text-black-dark leading-tight"><span data-translate="error">Error</span>'
        f"<span>{code}</span></h1>\n"
        f'<span class="inline-block md:block heading-ray-id font-mono text-15 lg:text-sm '
        f'lg:leading-relaxed">Ray ID: {ray} &bull;</span>\n'
        f'<h2 class="text-gray-600 leading-1.3 text-3xl lg:text-2xl font-light">'
        f"{headline}</h2>\n</header>\n"
        '<section class="w-240 lg:w-full mx-auto mb-8 lg:px-8"><div id="what-happened-section"'
        ' class="w-1/2 md:w-full"><h2 class="text-3xl leading-tight font-normal mb-4 '
        'text-black-dark antialiased" data-translate="what_happened">What happened?</h2>'
        f"<p>{what}</p></div></section>\n"
        '<div class="cf-error-footer cf-wrapper w-240 lg:w-full py-10 sm:py-4 sm:px-8 mx-auto '
        'text-center sm:text-left border-solid border-0 border-t border-gray-300">'
        f'<p class="text-13"><span class="cf-footer-item sm:block sm:mb-1">Cloudflare Ray ID: '
        f'<strong class="font-semibold">{ray}</strong></span>'
        '<span class="cf-footer-separator sm:hidden">&bull;</span>'
        '<span class="cf-footer-item sm:block sm:mb-1"><span>Performance &amp; security by'
        '</span> <a rel="noopener noreferrer" href="https://www.cloudflare.com/5xx-error-'
        f'landing?utm_source=errorcode_{code}&utm_campaign={ehost}" id="brand_link" '
        'target="_blank">Cloudflare</a></span></p></div>\n'
        "</div></div>\n</body>\n</html>\n"
    )


def _challenge_reject_html(host: str, ray: str) -> str:
    return (
        "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head>"
        f"<body><h1>Sorry, the challenge answer for {html.escape(host)} was not accepted."
        f"</h1><p>Ray ID: {ray}</p></body></html>\n"
    )
