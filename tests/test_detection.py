# Fixture HTML keeps Cloudflare's real (long) lines so that the markers sit as they do live.
# ruff: noqa: E501
"""Tests for scrapy_captcha.detect._detection.

Fixtures are trimmed from real Cloudflare pages (managed / interactive / legacy challenges,
1xxx block pages, the WAF block page, and ordinary Cloudflare-hosted pages): the telling parts
are kept, tokens, ray ids and hosts are made up.
"""

from __future__ import annotations

import dataclasses

import pytest
from scrapy.http import Headers, HtmlResponse, Response, TextResponse

from scrapy_captcha.detect import _detection as detection
from scrapy_captcha.detect._detection import (
    CLOUDFLARE,
    CLOUDFLARE_BLOCK,
    MAX_CHALLENGE_SCAN_BYTES,
    MAX_SCAN_BYTES,
    Challenge,
    detect,
    is_challenge_candidate,
)

URL = "https://www.example.com/products?page=2"
RAY = "8f1a2b3c4d5e6f70-FRA"

HTML = {"Content-Type": "text/html; charset=UTF-8"}
CF = {**HTML, "Server": "cloudflare", "CF-RAY": RAY}
CF_CHALLENGE = {**CF, "cf-mitigated": "challenge"}
NGINX = {**HTML, "Server": "nginx/1.24.0"}

MANAGED = Challenge(CLOUDFLARE, "managed", True)
INTERACTIVE = Challenge(CLOUDFLARE, "interactive", True)
LEGACY = Challenge(CLOUDFLARE, "legacy", True)


def block(code: str) -> Challenge:
    return Challenge(CLOUDFLARE_BLOCK, code, False)


# --- fixtures: challenge pages ---------------------------------------------------------------


def managed_page(title: str = "Just a moment...", lang: str = "en-US", ctype: str = "managed"):
    """Current (2024-25) challenge page: inline styles, _cf_chl_opt, chl_page orchestrate."""
    return f"""<!DOCTYPE html>
<html lang="{lang}">
    <head>
        <title>{title}</title>
        <meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
        <meta http-equiv="X-UA-Compatible" content="IE=Edge">
        <meta name="robots" content="noindex,nofollow">
        <meta name="viewport" content="width=device-width,initial-scale=1">
        <style>*{{box-sizing:border-box;margin:0;padding:0}}</style>
    </head>
    <body>
        <div class="main-wrapper" role="main">
            <div class="main-content">
                <noscript>
                    <div class="h2"><span id="challenge-error-text">
                        Enable JavaScript and cookies to continue
                    </span></div>
                </noscript>
            </div>
        </div>
        <script>
            (function() {{
                window._cf_chl_opt = {{
                    cvId: '3',
                    cZone: "www.example.com",
                    cType: '{ctype}',
                    cRay: '8f1a2b3c4d5e6f70',
                    cH: 'k8l5Occ8mdHpL3I2c7.WESw-1740422387-1.2.1.1-vh2xjb3t',
                    cUPMDTk: "\\/products?page=2&__cf_chl_tk=_BlODDpWJoFokw7-1740422387-1.0.1.1",
                    cFPWv: 'b',
                    cTTimeMs: '1000',
                    cMTimeMs: '390000',
                    cTplV: 5,
                    cTplB: 'cf',
                    fa: "\\/products?page=2&__cf_chl_f_tk=_BlODDpWJoFokw7-1740422387-1.0.1.1",
                    md: "akp_ZfgXJMgX5WzngDKSzekmJxP1gACyA37L8fFR2YQ-1740422387-1.2.1.1-taMIy"
                }};
                var cpo = document.createElement('script');
                cpo.src = '/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray=8f1a2b3c4d5e6f70';
                document.getElementsByTagName('head')[0].appendChild(cpo);
            }}());
        </script>
    </body>
</html>
"""


# 2023 JS challenge ("non-interactive"), orchestrate under /h/g/.
JSCH_2023 = """<!DOCTYPE html>
<html lang="en-US">
<head>
    <title>Just a moment...</title>
    <meta name="robots" content="noindex,nofollow">
    <link href="/cdn-cgi/styles/challenges.css" rel="stylesheet">
    <meta http-equiv="refresh" content="35">
</head>
<body class="no-js">
    <div id="trk_jschal_js" style="display:none;background-image:url('/cdn-cgi/images/trace/jsch/nojs/transparent.gif?ray=7d93c9fdfd5c87b4')"></div>
    <form id="challenge-form" action="/beacon.js?__cf_chl_f_tk=vHhZRSh6lTmYJ7X1nx-1687094000-0-gaNy" method="POST" enctype="application/x-www-form-urlencoded">
        <input type="hidden" name="md" value="BuQ0q_QZm7GfR_56eXGpZNDEpD3NHJc7JbfYZ0rOBVw-1687094000-0-AXgP">
    </form>
<script>
    (function(){
        window._cf_chl_opt={
            cvId: '2',
            cZone: 'www.example.com',
            cType: 'non-interactive',
            cNounce: '21751',
            cRay: '7d93c9fdfd5c87b4',
        };
        var cpo = document.createElement('script');
        cpo.src = '/cdn-cgi/challenge-platform/h/g/orchestrate/jsch/v1?ray=7d93c9fdfd5c87b4';
        document.getElementsByTagName('head')[0].appendChild(cpo);
    }());
</script>
</body>
</html>
"""

# 2021 interactive challenge on the old error-page template.
INTERACTIVE_2021 = """<!DOCTYPE html>
<!--[if gt IE 8]><!--> <html class="no-js" lang="en-US"> <!--<![endif]-->
<head>
<title>Attention Required! | Cloudflare</title>
<meta name="captcha-bypass" id="captcha-bypass" />
<meta name="robots" content="noindex, nofollow" />
<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/cf.errors.css" type="text/css" media="screen,projection" />
    <script type="text/javascript">
    //<![CDATA[
    (function(){
      window._cf_chl_opt={
        cvId: "2",
        cType: "interactive",
        cNounce: "61547",
        cRay: "666a9dec4d4aecee",
        cHash: "bb03da68cc37719",
        cFPWv: "g",
      };
    }());
    //]]>
    </script>
</head>
<body>
  <div id="cf-wrapper">
    <div id="cf-error-details" class="cf-error-details-wrapper">
      <div class="cf-wrapper cf-header cf-error-overview">
        <h1 data-translate="challenge_headline">One more step</h1>
        <h2 class="cf-subheadline"><span data-translate="complete_sec_check">Please complete the security check to access</span> www.example.com</h2>
      </div>
    </div>
  </div>
</body>
</html>
"""

# 2021 managed challenge with an hCaptcha kind (cType says managed, the captcha kind says a
# human must interact).
MANAGED_CAPTCHA_2021 = """<!DOCTYPE html>
<html class="no-js" lang="en-US">
<head>
<title>Please Wait... | Cloudflare</title>
<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/cf.errors.css" type="text/css" media="screen,projection" />
    <script type="text/javascript">
    (function(){
      window._cf_chl_opt={
        cvId: "2",
        cType: "managed",
        cRay: "6a78c4578ea0435d",
      };
    }());
    </script>
</head>
<body>
  <div id="cf-wrapper">
    <div id="cf-error-details" class="cf-error-details-wrapper">
        <h1 data-translate="managed_challenge_headline">Please wait...</h1>
        <form class="challenge-form managed-form" id="challenge-form" action="/listing?rid=51&amp;__cf_chl_managed_tk__=pmd_76.85095KGspUS1cRvd7FVVtxFLorBFr9-1635807916-0-gqNt" method="POST">
  <input type="hidden" name="md" value="H6934pOvfzj.ySM7bHOgSyJx6RkRjnEjsdWsMtxIbiU-1635807916-0-AXdR" />
  <input type="hidden" name="cf_captcha_kind" value="h">
  <input type="hidden" name="vc" value="63618104d4ec9657d90b510fbe53d1ec">
</form>
  <script type="text/javascript">
        var cpo=document.createElement('script');
        cpo.src="/cdn-cgi/challenge-platform/h/b/orchestrate/managed/v1?ray=6a78c4578ea0435d";
        document.getElementsByTagName('head')[0].appendChild(cpo);
  </script>
    </div>
  </div>
</body>
</html>
"""

# 2019 reCAPTCHA challenge: no _cf_chl_opt yet, only the captcha form.
RECAPTCHA_2019 = """<!DOCTYPE html>
<html class="no-js" lang="en-US">
<head>
<title>Attention Required! | Cloudflare</title>
<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/cf.errors.css" type="text/css" media="screen,projection" />
</head>
<body>
  <div id="cf-wrapper">
    <div id="cf-error-details" class="cf-error-details-wrapper">
        <h1 data-translate="challenge_headline">One more step</h1>
        <form class="challenge-form" id="challenge-form" action="/reCaptcha?__cf_chl_captcha_tk__=0f605257331fdb1c726448b5207416dd-1576104286-0-AfRQ" method="POST" enctype="application/x-www-form-urlencoded">
  <input type="hidden" name="r" value="5609d192508b34cce14daeb7c9fb954cf9377b75-1576104286-0-Afn3">
  <script type="text/javascript" src="/cdn-cgi/scripts/cf.challenge.js" data-type="normal" data-ray="543afc2cfa44ee9a" async data-sitekey="6LfBixYUAAAAABhdHynFUIMA_sa4s-XsJvnjtgB0"></script>
  <div class="g-recaptcha"></div>
</form>
    </div>
  </div>
</body>
</html>
"""

# Legacy "I'm Under Attack" page (2019-2020): 503, jschl fields, no cf-mitigated. It also carries
# a decoy 1020 error-code span inside its script, which must not turn it into a block.
LEGACY_IUAM = """<!DOCTYPE HTML>
<html lang="en-US">
<head>
  <meta charset="UTF-8" />
  <meta name="robots" content="noindex, nofollow" />
  <meta http-equiv="refresh" content="12">
  <title>Just a moment...</title>
    <script type="text/javascript">
  //<![CDATA[
  (function(){
    var a = function() {try{return !!window.addEventListener} catch(e) {return !1} },
    b = function(b, c) {a() ? document.addEventListener("DOMContentLoaded", b, c) : document.attachEvent("onreadystatechange", b)};
    b(function(){
      setTimeout(function(){
        var s,t,o,p,b,r,e,a,k,i,n,g,f, r3 = '<span class="cf-error-code">1020</span>';
        a = document.getElementById('jschl-answer');
        f = document.getElementById('challenge-form');
        a.value = (+klqqNbf.jRrD).toFixed(10); '; 121'
        f.action += location.hash;
        f.submit();
      }, 4000);
    }, false);
  })();
  //]]>
</script>
</head>
<body>
  <table width="100%" height="100%" cellpadding="20">
    <tr>
      <td align="center" valign="middle">
          <div class="cf-browser-verification cf-im-under-attack">
  <noscript><h1 data-translate="turn_on_js" style="color:#bd2426;">Please turn JavaScript on and reload the page.</h1></noscript>
  <div id="cf-content" style="display:none">
    <h1><span data-translate="checking_browser">Checking your browser before accessing</span> www.example.com.</h1>
    <p data-translate="allow_5_secs">Please allow up to 5 seconds&hellip;</p>
  </div>
  <form id="challenge-form" action="/cdn-cgi/l/chk_jschl" method="get">
    <input type="hidden" name="s" value="f3b4838af97b6cb02b3c8b1e0f149daf27dbee61-1555369946-1800-AakW"></input>
    <input type="hidden" name="jschl_vc" value="686d6bea02e6d172aa64f102a684228c"/>
    <input type="hidden" name="pass" value="1555369950.717-6S1r4kzOYK"/>
    <input type="hidden" id="jschl-answer" name="jschl_answer"/>
  </form>
</div>
      </td>
    </tr>
  </table>
</body>
</html>
"""

# 2021 "Checking your browser" 503: cf-browser-verification but no jschl fields.
BROWSER_CHECK_503 = """<!DOCTYPE HTML>
<html lang="en-US">
<head><title>Just a moment...</title></head>
<body>
  <div class="cf-browser-verification cf-im-under-attack">
    <h1><span data-translate="checking_browser">Checking your browser before accessing</span> www.example.com.</h1>
    <div id="cf_chl_prog"></div>
  </div>
</body>
</html>
"""


def title_only_page(title: str, lang: str) -> str:
    """A challenge page whose only remaining evidence is its localised title."""
    return f"""<!DOCTYPE html><html lang="{lang}"><head><title>{title}</title>
<meta name="robots" content="noindex,nofollow"></head>
<body><noscript>Enable JavaScript and cookies to continue</noscript></body></html>"""


# --- fixtures: block pages -------------------------------------------------------------------


def modern_error_page(code: str, headline: str, detail: str, title: str | None = None) -> str:
    """Cloudflare's 1xxx error page (2022+ template, /cdn-cgi/styles/main.css)."""
    title = title or "Access denied | www.example.com used Cloudflare to restrict access"
    return f"""<!DOCTYPE html>
<!--[if gt IE 8]><!--> <html class="no-js" lang="en-US"> <!--<![endif]-->
<head>
<title>{title}</title>
<meta charset="UTF-8" />
<meta name="robots" content="noindex, nofollow" />
<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/main.css" />
<script>
(function(){{if(document.addEventListener&&window.XMLHttpRequest&&JSON&&JSON.stringify){{var e=function(a){{var b=new XMLHttpRequest;a={{event:"feedback clicked",properties:{{errorCode:{code},helpful:a,version:1}}}};b.open("POST","https://sparrow.cloudflare.com/api/v1/event");b.send(JSON.stringify(a))}}}}}})();
</script>
</head>
<body>
  <div id="cf-wrapper">
    <div id="cf-error-details" class="p-0">
      <header class="mx-auto pt-10 lg:pt-6 lg:px-8 w-240 lg:w-full mb-15 antialiased">
         <h1 class="inline-block md:block mr-2 md:mb-2 font-light text-60 md:text-3xl text-black-dark leading-tight">
           <span data-translate="error">Error</span>
           <span>{code}</span>
         </h1>
         <span class="inline-block md:block heading-ray-id font-mono text-15 lg:text-sm lg:leading-relaxed">Ray ID: 8f1a2b3c4d5e6f70 &bull;</span>
        <h2 class="text-gray-600 leading-1.3 text-3xl lg:text-2xl font-light">{headline}</h2>
      </header>
      <section class="w-240 lg:w-full mx-auto mb-8 lg:px-8">
          <div id="what-happened-section" class="w-1/2 md:w-full">
            <h2 class="text-3xl leading-tight font-normal mb-4 text-black-dark antialiased" data-translate="what_happened">What happened?</h2>
            <p>{detail}</p>
          </div>
      </section>
      <div class="cf-error-footer cf-wrapper w-240 lg:w-full py-10 sm:py-4 sm:px-8 mx-auto text-center sm:text-left border-solid border-0 border-t border-gray-300">
  <p class="text-13">
    <span class="cf-footer-item sm:block sm:mb-1">Cloudflare Ray ID: <strong class="font-semibold">8f1a2b3c4d5e6f70</strong></span>
    <span class="cf-footer-item sm:block sm:mb-1"><span>Performance &amp; security by</span> <a rel="noopener noreferrer" href="https://www.cloudflare.com/5xx-error-landing" id="brand_link" target="_blank">Cloudflare</a></span>
  </p>
</div>
    </div>
  </div>
</body>
</html>
"""


ERROR_1020 = modern_error_page(
    "1020",
    "Access denied",
    "This website is using a security service to protect itself from online attacks.",
)
ERROR_1015 = modern_error_page(
    "1015",
    "You are being rate limited",
    "The owner of this website (www.example.com) has banned you temporarily from accessing"
    " this website.",
)
ERROR_1010 = modern_error_page(
    "1010",
    "Access denied",
    "The owner of this website (www.example.com) has banned your access based on your"
    " browser's signature (8f1a2b3c4d5e6f70-ua48).",
)
ERROR_1012 = modern_error_page(
    "1012",
    "Access denied",
    "The owner of this website (www.example.com) does not allow access from your browser.",
)
ERROR_1006 = modern_error_page(
    "1006",
    "Access denied",
    "The owner of this website (www.example.com) has banned your IP address (203.0.113.7).",
)

# Older cf.errors.css template: the code sits in <span class="cf-error-code">.
ERROR_1020_OLD = """<!DOCTYPE html>
<html class="no-js" lang="en-US">
<head>
<title>Access denied | www.example.com used Cloudflare to restrict access</title>
<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/cf.errors.css" type="text/css" media="screen,projection" />
</head>
<body>
  <div id="cf-wrapper">
    <div id="cf-error-details" class="cf-error-details-wrapper">
      <div class="cf-wrapper cf-header cf-error-overview">
        <h1>
          <span class="cf-error-type" data-translate="error">Error</span>
          <span class="cf-error-code">1020</span>
        </h1>
        <h2 class="cf-subheadline" data-translate="error_desc">Access denied</h2>
      </div>
      <div class="cf-error-footer cf-wrapper">
        <span class="cf-footer-item">Cloudflare Ray ID: <strong>5a1b2c3d4e5f6a7b</strong></span>
      </div>
    </div>
  </div>
</body>
</html>
"""

# The WAF block page: no error code at all.
WAF_BLOCKED = """<!DOCTYPE html>
<!--[if gt IE 8]><!--> <html class="no-js" lang="en-US"> <!--<![endif]-->
<head>
<title>Attention Required! | Cloudflare</title>
<meta name="robots" content="noindex, nofollow" />
<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/cf.errors.css" />
</head>
<body>
  <div id="cf-wrapper">
    <div class="cf-alert cf-alert-error cf-cookie-error" id="cookie-alert" data-translate="enable_cookies">Please enable cookies.</div>
    <div id="cf-error-details" class="cf-error-details-wrapper">
      <div class="cf-wrapper cf-header cf-error-overview">
        <h1 data-translate="block_headline">Sorry, you have been blocked</h1>
        <h2 class="cf-subheadline"><span data-translate="unable_to_access">You are unable to access</span> example.com</h2>
      </div>
      <div class="cf-section cf-wrapper">
        <h2 data-translate="blocked_why_headline">Why have I been blocked?</h2>
        <p data-translate="blocked_why_detail">This website is using a security service to protect itself from online attacks. The action you just performed triggered the security solution.</p>
      </div>
      <div class="cf-error-footer cf-wrapper w-240 lg:w-full py-10 sm:py-4 sm:px-8 mx-auto text-center sm:text-left border-solid border-0 border-t border-gray-300">
        <span class="cf-footer-item sm:block sm:mb-1">Cloudflare Ray ID: <strong class="font-semibold">7c4398d49fb31ccb</strong></span>
      </div>
    </div>
  </div>
</body>
</html>
"""

# A 1010 page whose code markup is gone: the phrase alone implies the code.
ERROR_1010_NO_CODE = """<html><head>
<title>Access denied | www.example.com used Cloudflare to restrict access</title></head>
<body><div id="cf-error-details"><h2>Access denied</h2>
<p>The owner of this website (www.example.com) has banned your access based on your
browser&#39;s signature (8f1a2b3c4d5e6f70-ua48).</p></div></body></html>"""

# "Access denied ... used Cloudflare to restrict access" without any code.
ACCESS_DENIED_NO_CODE = """<html><head>
<title>Access denied | www.example.com used Cloudflare to restrict access</title></head>
<body><div id="cf-error-details"><h2>Access denied</h2>
<p>The site owner may have set restrictions that prevent you from accessing the site.</p>
</div></body></html>"""


# --- fixtures: ordinary pages ----------------------------------------------------------------

# A normal page of a Cloudflare-hosted site with every Cloudflare feature an ordinary page
# carries: email obfuscation, Rocket Loader, Web Analytics beacon, JavaScript detections.
ORDINARY_CF_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Widgets - Example Store</title>
  <script src="/cdn-cgi/scripts/7d0fa10a/cloudflare-static/rocket-loader.min.js" data-cf-settings="4d5b3f0e2a1c9d8e7f6a5b4c-|49" defer></script>
  <script type="4d5b3f0e2a1c9d8e7f6a5b4c-text/javascript" src="/static/js/app.js"></script>
</head>
<body>
  <h1>Widgets</h1>
  <p>Questions? Write to <a href="/cdn-cgi/l/email-protection#4b3e382f" class="__cf_email__" data-cfemail="7a1f021b170a161f3a1f021b170a161f54191517">[email&#160;protected]</a>.</p>
  <script data-cfasync="false" src="/cdn-cgi/scripts/5c5dd728/cloudflare-static/email-decode.min.js"></script>
  <script defer src="https://static.cloudflareinsights.com/beacon.min.js/vcd15cbe7772f49c399c6a5babf22c1241717689176015" integrity="sha512-ZpsOmlRQV6y907TI0dKBHq9Md29nnaEIPlkf84rnaERnq6zvWvPUqr2ft8M1aS28oN72PdrCzSjY4U6VaAw1EQ==" data-cf-beacon='{"rayId":"8f1a2b3c4d5e6f70","version":"2024.11.0","token":"0d9aa21cb1b14eeba00f56df49e157dc"}' crossorigin="anonymous"></script>
  <script>(function(){function c(){var b=a.contentDocument||a.contentWindow.document;if(b){var d=b.createElement('script');d.innerHTML="window.__CF$cv$params={r:'8f1a2b3c4d5e6f70',t:'MTczNDc3MTYzNi4wMDAwMDA='};var a=document.createElement('script');a.nonce='';a.src='/cdn-cgi/challenge-platform/scripts/jsd/main.js';document.getElementsByTagName('head')[0].appendChild(a);";b.getElementsByTagName('head')[0].appendChild(d)}}if(document.body){var a=document.createElement('iframe');a.height=1;a.width=1;a.style.position='absolute';a.style.top=0;a.style.left=0;a.style.border='none';a.style.visibility='hidden';document.body.appendChild(a);if('loading'!==document.readyState)c();else if(window.addEventListener)document.addEventListener('DOMContentLoaded',c)}})();</script>
  <script src="/cdn-cgi/challenge-platform/h/b/scripts/jsd/e0c90b6a3ed1/main.js?"></script>
</body>
</html>
"""

ORDINARY_CF_HEADERS = {
    **CF,
    "Set-Cookie": "__cf_bm=gI_Gwk_P8ZL5vo.jY8BZ1WhwGZUcv08tNXlFTF9EAl4-1718035121-1.0.1.1-GReg; "
    "path=/; expires=Mon, 10-Jun-24 16:28:41 GMT; domain=.example.com; HttpOnly; Secure",
    "Vary": "Accept-Encoding",
    "alt-svc": 'h3=":443"; ma=86400',
}

# The origin's own 403, passed through Cloudflare.
ORIGIN_403 = """<html>
<head><title>403 Forbidden</title></head>
<body>
<center><h1>403 Forbidden</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""

# The origin's maintenance page, served through Cloudflare with the JS-detections script.
ORIGIN_MAINTENANCE_503 = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Down for maintenance</title></head>
<body>
  <h1>We'll be back soon!</h1>
  <p>Sorry for the inconvenience. We&rsquo;re performing some maintenance at the moment.
  Just a moment... and we'll be back online.</p>
  <script src="/cdn-cgi/challenge-platform/h/b/scripts/jsd/e0c90b6a3ed1/main.js?"></script>
  <script defer src="https://static.cloudflareinsights.com/beacon.min.js" data-cf-beacon='{"token":"65325546c71740a78ecc6e8fa7815010"}'></script>
</body></html>
"""

NGINX_503 = """<html>
<head><title>503 Service Temporarily Unavailable</title></head>
<body>
<center><h1>503 Service Temporarily Unavailable</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""

# A blog post about scraping that quotes challenge and block markers.
ARTICLE = """<!DOCTYPE html>
<html><head><title>Just a moment... why scrapers see Cloudflare pages</title></head>
<body><article>
<h1>Why does my scraper get "Just a moment..."?</h1>
<p>The page has a <code>cf-browser-verification</code> div and sets
<code>window._cf_chl_opt</code>, then loads
<code>/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1</code>. Older pages posted
<code>jschl_vc</code> and <code>jschl_answer</code> to <code>id="challenge-form"</code>.</p>
<p>Blocked clients instead get "error code: 1020" or "Sorry, you have been blocked".</p>
</article></body></html>
"""


# --- helpers ---------------------------------------------------------------------------------


def html(status: int, body: str | bytes, headers: dict[str, str] | None = None) -> HtmlResponse:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return HtmlResponse(URL, status=status, headers=headers or {}, body=raw)


def raw(status: int, body: bytes, headers: dict[str, str]) -> Response:
    return Response(URL, status=status, headers=headers, body=body)


class NoDecodeResponse(HtmlResponse):
    """Fails the test if anyone decodes the body."""

    @property
    def text(self) -> str:
        raise AssertionError("detect() must not decode the body")


# --- challenges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param(html(403, managed_page(), CF_CHALLENGE), MANAGED, id="managed-403-header"),
        pytest.param(
            html(403, managed_page("Un instant…", "fr-FR"), CF_CHALLENGE),
            MANAGED,
            id="managed-403-header-french",
        ),
        pytest.param(
            html(403, managed_page("Einen Moment bitte…", "de-DE"), CF_CHALLENGE),
            MANAGED,
            id="managed-403-header-german",
        ),
        pytest.param(
            html(403, managed_page("しばらくお待ちください...", "ja-JP"), CF_CHALLENGE),
            MANAGED,
            id="managed-403-header-japanese",
        ),
        pytest.param(
            html(403, managed_page(ctype="interactive"), CF_CHALLENGE),
            INTERACTIVE,
            id="interactive-403-header",
        ),
        pytest.param(
            html(403, JSCH_2023, CF_CHALLENGE),
            MANAGED,
            id="non-interactive-ctype-is-not-interactive",
        ),
        pytest.param(
            html(403, managed_page(), {**CF, "cf-mitigated": "Challenge"}),
            MANAGED,
            id="header-value-case-insensitive",
        ),
        pytest.param(html(200, managed_page(), CF_CHALLENGE), MANAGED, id="header-wins-on-200"),
        pytest.param(
            raw(403, b"", {"cf-mitigated": "challenge"}), MANAGED, id="header-empty-body"
        ),
        pytest.param(
            raw(
                403,
                b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
                {**CF_CHALLENGE, "Content-Type": "image/png"},
            ),
            MANAGED,
            id="header-on-image",
        ),
        pytest.param(
            raw(
                403,
                b'{"cType": "interactive"}',
                {**CF_CHALLENGE, "Content-Type": "application/json"},
            ),
            INTERACTIVE,
            id="header-on-json-interactive",
        ),
        # Without cf-mitigated: markers are the evidence.
        pytest.param(html(403, managed_page(), CF), MANAGED, id="managed-403-markers-only"),
        pytest.param(html(403, JSCH_2023, CF), MANAGED, id="jsch-h-g-orchestrate"),
        pytest.param(html(403, INTERACTIVE_2021, CF), INTERACTIVE, id="interactive-ctype-2021"),
        # cf_captcha_kind in the form, cType managed: the variant follows cType (issue 19).
        pytest.param(html(403, MANAGED_CAPTCHA_2021, CF), MANAGED, id="cf-captcha-kind"),
        pytest.param(html(403, RECAPTCHA_2019, CF), INTERACTIVE, id="recaptcha-captcha-token"),
        pytest.param(html(503, LEGACY_IUAM, CF), LEGACY, id="legacy-503-jschl"),
        pytest.param(html(503, BROWSER_CHECK_503, CF), LEGACY, id="legacy-503-verification"),
        pytest.param(html(403, BROWSER_CHECK_503, CF), MANAGED, id="browser-verification-on-403"),
        pytest.param(html(429, managed_page(), CF), MANAGED, id="markers-on-429"),
        pytest.param(html(403, managed_page(), HTML), MANAGED, id="markers-without-cf-headers"),
        pytest.param(
            html(
                403,
                '<form id="challenge-form" action="/cdn-cgi/l/chk_captcha"></form>',
                HTML,
            ),
            MANAGED,
            id="challenge-form-with-cdn-cgi",
        ),
        pytest.param(
            html(403, '<form id="challenge-form" action="/verify"></form>', CF),
            MANAGED,
            id="challenge-form-with-cf-headers",
        ),
        pytest.param(
            raw(503, LEGACY_IUAM.encode(), {"Server": "cloudflare"}),
            LEGACY,
            id="plain-response-no-content-type",
        ),
    ],
)
def test_challenges(response: Response, expected: Challenge) -> None:
    assert detect(response) == expected


@pytest.mark.parametrize(
    ("title", "lang"),
    [
        ("Just a moment...", "en-US"),
        ("Un instant…", "fr-FR"),
        ("Einen Moment bitte…", "de-DE"),
        ("Un momento…", "es-ES"),
        ("Bir dakika lütfen…", "tr-TR"),
        ("Один момент…", "ru-RU"),
        ("请稍候…", "zh-CN"),
        ("しばらくお待ちください...", "ja-JP"),
        ("\n    Just a moment...\n", "en-US"),
    ],
)
@pytest.mark.parametrize("status", [403, 503])
def test_localised_title_is_weak_managed_signal(title: str, lang: str, status: int) -> None:
    assert detect(html(status, title_only_page(title, lang), CF)) == MANAGED


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        pytest.param(403, NGINX, id="not-cloudflare"),
        pytest.param(503, HTML, id="no-server-header"),
        pytest.param(429, CF, id="429-title-alone"),
        pytest.param(200, CF, id="200"),
        pytest.param(404, CF, id="404"),
    ],
)
def test_localised_title_alone_needs_cloudflare_403_or_503(
    status: int, headers: dict[str, str]
) -> None:
    assert detect(html(status, title_only_page("Un instant…", "fr-FR"), headers)) is None


def test_title_text_outside_title_element_is_not_a_signal() -> None:
    body = "<html><head><title>Forbidden</title></head><body><h1>Just a moment...</h1></body>"
    assert detect(html(403, body, CF)) is None


def test_detect_never_decodes_the_body() -> None:
    response = NoDecodeResponse(URL, status=503, headers=CF, body=LEGACY_IUAM.encode())
    assert detect(response) == LEGACY


# --- blocks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param(html(403, ERROR_1020, CF), block("1020"), id="1020-modern"),
        pytest.param(html(403, ERROR_1020_OLD, CF), block("1020"), id="1020-cf-error-code"),
        pytest.param(
            raw(403, b"error code: 1020", {**CF, "Content-Type": "text/plain; charset=UTF-8"}),
            block("1020"),
            id="1020-plain-text",
        ),
        pytest.param(
            TextResponse(URL, status=403, headers={**CF}, body=b"error code: 1010\n"),
            block("1010"),
            id="1010-plain-text",
        ),
        pytest.param(html(429, ERROR_1015, CF), block("1015"), id="1015-on-429"),
        pytest.param(html(403, ERROR_1010, CF), block("1010"), id="1010"),
        pytest.param(html(403, ERROR_1012, CF), block("1012"), id="1012"),
        pytest.param(html(403, ERROR_1006, CF), block("1006"), id="1006"),
        pytest.param(html(403, WAF_BLOCKED, CF), block("block"), id="waf-sorry-blocked"),
        pytest.param(
            html(403, ERROR_1010_NO_CODE, CF), block("1010"), id="1010-inferred-from-phrase"
        ),
        pytest.param(
            html(403, ACCESS_DENIED_NO_CODE, CF), block("block"), id="access-denied-no-code"
        ),
        pytest.param(
            html(403, ERROR_1020, {**HTML, "CF-RAY": RAY}), block("1020"), id="cf-ray-only"
        ),
        pytest.param(
            html(503, modern_error_page("1020", "Access denied", "Blocked."), CF),
            block("1020"),
            id="1020-on-503",
        ),
    ],
)
def test_blocks(response: Response, expected: Challenge) -> None:
    found = detect(response)
    assert found == expected
    assert found is not None and not found.solvable


def test_legacy_page_with_decoy_error_code_is_a_challenge_not_a_block() -> None:
    assert '<span class="cf-error-code">1020</span>' in LEGACY_IUAM
    assert detect(html(403, LEGACY_IUAM, CF)) == LEGACY


def test_block_page_needs_cloudflare_headers() -> None:
    # Rule 2: without Server: cloudflare / CF-RAY a block page is not reported.
    assert detect(html(403, ERROR_1020, NGINX)) is None
    assert detect(html(403, WAF_BLOCKED, HTML)) is None


# --- negatives -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(html(200, ORDINARY_CF_PAGE, ORDINARY_CF_HEADERS), id="cf-200-ordinary"),
        pytest.param(html(403, ORDINARY_CF_PAGE, ORDINARY_CF_HEADERS), id="cf-403-ordinary"),
        pytest.param(html(404, ORDINARY_CF_PAGE, ORDINARY_CF_HEADERS), id="cf-404-ordinary"),
        pytest.param(html(503, ORDINARY_CF_PAGE, ORDINARY_CF_HEADERS), id="cf-503-ordinary"),
        pytest.param(html(403, ORIGIN_403, CF), id="cf-403-origin-page"),
        pytest.param(html(503, ORIGIN_MAINTENANCE_503, CF), id="cf-503-origin-maintenance"),
        pytest.param(html(429, ORIGIN_403, CF), id="cf-429-origin-page"),
        pytest.param(html(503, NGINX_503, NGINX), id="non-cf-503"),
        pytest.param(html(403, ORIGIN_403, NGINX), id="non-cf-403"),
        pytest.param(html(200, ARTICLE, CF), id="article-200-cf"),
        pytest.param(html(200, ARTICLE, NGINX), id="article-200-nginx"),
        pytest.param(html(404, ARTICLE, CF), id="article-404-cf"),
        pytest.param(html(200, managed_page(), CF), id="challenge-markers-on-200"),
        pytest.param(html(401, managed_page(), CF), id="challenge-markers-on-401"),
        pytest.param(html(404, ERROR_1020, CF), id="block-page-on-404"),
        pytest.param(html(200, WAF_BLOCKED, CF), id="block-page-on-200"),
        pytest.param(
            raw(
                403,
                b'{"error": "error code: 1020", "cType": "interactive"}',
                {
                    **CF,
                    "Content-Type": "application/json",
                },
            ),
            id="json-api-403-cf",
        ),
        pytest.param(
            raw(503, LEGACY_IUAM.encode(), {**CF, "Content-Type": "application/json"}),
            id="json-content-type-wins",
        ),
        pytest.param(
            raw(403, b"\x89PNG\r\n\x1a\n" + b"jschl_vc" * 4, {**CF, "Content-Type": "image/png"}),
            id="image-403-cf",
        ),
        pytest.param(raw(403, b"", CF), id="empty-403-cf"),
        pytest.param(raw(503, b"", CF), id="empty-503-cf"),
        pytest.param(raw(429, b"", CF), id="empty-429-cf"),
        pytest.param(html(403, '<form id="challenge-form"></form>', NGINX), id="form-id-alone"),
        pytest.param(
            html(403, "<p>Error 1045: access denied for user 'shop'@'localhost'</p>", CF),
            id="origin-error-number-without-cf-page",
        ),
        pytest.param(html(403, "<h1>Access denied</h1>", CF), id="origin-access-denied"),
        pytest.param(html(302, managed_page(), CF), id="redirect-with-markers"),
    ],
)
def test_ordinary_responses_are_not_challenges(response: Response) -> None:
    assert detect(response) is None


def test_cf_mitigated_other_value_is_ignored() -> None:
    assert detect(html(403, ORIGIN_403, {**CF, "cf-mitigated": "block"})) is None


# --- is_challenge_candidate --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (403, CF, True),
        (429, CF, True),
        (503, CF, True),
        (403, {"Server": "cloudflare"}, True),
        (403, {"Server": "Cloudflare"}, True),
        (503, {"Server": "cloudflare-nginx"}, True),
        (503, {"CF-RAY": RAY}, True),
        (429, {"Server": "nginx", "cf-ray": RAY}, True),
        (200, {"cf-mitigated": "challenge"}, True),
        (302, {"CF-Mitigated": "Challenge"}, True),
        (403, {"cf-mitigated": "challenge"}, True),
        (200, CF, False),
        (404, CF, False),
        (500, CF, False),
        (502, CF, False),
        (401, CF, False),
        (403, NGINX, False),
        (503, {}, False),
        (429, {"Server": "AmazonS3"}, False),
        (403, {"CF-RAY": ""}, False),
        (403, {"cf-mitigated": "block"}, False),
        (200, {"cf-mitigated": "block", "Server": "cloudflare"}, False),
    ],
)
def test_is_challenge_candidate(status: int, headers: dict[str, str], expected: bool) -> None:
    assert is_challenge_candidate(status, Headers(headers)) is expected


# --- bounded work --------------------------------------------------------------------------


def _huge_page(marker_at: int, size: int) -> bytes:
    head = b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body>"
    filler = b"<p>lorem ipsum dolor sit amet</p>\n"
    prefix = head + filler * ((marker_at - len(head)) // len(filler) + 1)
    prefix = prefix[:marker_at]
    marker = b"<script>window._cf_chl_opt={cType:'managed'};</script><div class=cf-browser-verification>"
    body = prefix + marker
    return body + b" " * (size - len(body))


def test_huge_body_with_markers_past_scan_limit_is_not_scanned() -> None:
    # On a Cloudflare 503 the scan reaches MAX_CHALLENGE_SCAN_BYTES (custom pages put
    # hundreds of KB of inline images before the markers), and not one byte further.
    body = _huge_page(MAX_CHALLENGE_SCAN_BYTES + 1, 20 * 1024 * 1024)
    assert len(body) == 20 * 1024 * 1024
    assert detect(html(503, body, CF)) is None
    assert detect(html(503, _huge_page(MAX_SCAN_BYTES + 1, 20 * 1024 * 1024), CF)) == LEGACY
    # Without Cloudflare headers only the first MAX_SCAN_BYTES are read.
    assert detect(html(503, _huge_page(MAX_SCAN_BYTES + 1, 20 * 1024 * 1024), HTML)) is None


def test_huge_body_with_markers_inside_scan_limit_is_detected() -> None:
    body = _huge_page(MAX_SCAN_BYTES - 200, 20 * 1024 * 1024)
    assert detect(html(503, body, CF)) == LEGACY


def test_huge_block_page_past_scan_limit_is_not_scanned() -> None:
    body = b"<html><body>" + b"x" * (MAX_CHALLENGE_SCAN_BYTES + 10) + WAF_BLOCKED.encode()
    assert detect(html(403, body, CF)) is None
    assert detect(html(403, WAF_BLOCKED.encode() + b"x" * (20 * 1024 * 1024), CF)) == block(
        "block"
    )


def test_hostile_whitespace_runs_are_handled() -> None:
    # Long runs between the words of a code pattern must not blow up the regexes.
    body = (
        '<div id="cf-error-details">error code'
        + " " * (MAX_SCAN_BYTES // 2)
        + ":"
        + " " * 1000
        + "x</div>"
    )
    assert detect(html(403, body, CF)) is None


# --- API surface ---------------------------------------------------------------------------


def test_constants_and_challenge_shape() -> None:
    assert CLOUDFLARE == "cloudflare"
    assert CLOUDFLARE_BLOCK == "cloudflare_block"
    assert MAX_SCAN_BYTES == 256 * 1024
    challenge = Challenge(CLOUDFLARE, "managed", True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        challenge.variant = "legacy"  # type: ignore[misc]
    assert not hasattr(challenge, "__dict__")


def test_marker_lists_are_extendable_tuples() -> None:
    for name in (
        "CF_CHALLENGE_MARKERS",
        "CF_LEGACY_MARKERS",
        "CF_INTERACTIVE_MARKERS",
        "CF_CHALLENGE_TITLES",
        "CF_ERROR_PAGE_MARKERS",
        "CF_BLOCK_PHRASES",
    ):
        assert isinstance(getattr(detection, name), tuple), name
    assert not any(b"/scripts/jsd/" in marker for marker in detection.CF_CHALLENGE_MARKERS)


# --- the Challenge interface and the walls beyond Cloudflare (issue 19 §2) --------------------


def test_challenge_keeps_its_three_field_form_and_gains_vendor_and_params() -> None:
    """Existing code builds and compares ``Challenge(kind, variant, solvable)``: params
    default to empty, the vendor follows from the kind."""
    assert Challenge(CLOUDFLARE, "managed", True) == MANAGED
    assert dict(MANAGED.params) == {} and MANAGED.vendor == "cloudflare"
    assert block("1020").vendor == "cloudflare"
    wall = Challenge("datadome", "captcha", True, {"captcha_url": "https://x"})
    assert wall.vendor == "datadome" and wall != Challenge("datadome", "captcha", True)
    assert hash(wall) == hash(Challenge("datadome", "captcha", True))  # (params unhashed)
    assert "captcha_url" not in repr(wall)  # (task values stay out of log lines)


def test_the_wall_list_names_every_vendor_detect_reports() -> None:
    from scrapy_captcha._kinds import WALLS

    assert WALLS[0] == "cloudflare" and len(set(WALLS)) == len(WALLS) == 14
    assert detection.WALLS is WALLS


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (202, {"x-amzn-waf-action": "challenge"}, True),
        (405, {"x-amzn-waf-action": "captcha"}, True),
        (200, {"x-amzn-waf-action": "allow"}, False),
        (200, {"x-amzn-requestid": "r-1"}, False),
        (429, {"x-kpsdk-ct": "t"}, True),
        (200, {"x-kpsdk-ct": "t"}, False),
        (403, {"x-datadome": "protected"}, True),
        (200, {"x-datadome": "protected"}, False),
        (403, {"x-sucuri-block": "BNP005"}, True),
        (403, {"x-cache": "Error from cloudfront"}, True),
        (200, {"x-cache": "Hit from cloudfront"}, False),
    ],
)
def test_is_challenge_candidate_knows_the_walls_own_headers(
    status: int, headers: dict[str, str], expected: bool
) -> None:
    assert is_challenge_candidate(status, Headers(headers)) is expected


def test_cloudflare_comes_first_on_a_page_behind_two_walls() -> None:
    """A Cloudflare challenge served with DataDome's header and words is Cloudflare's."""
    body = managed_page() + "<!-- geo.captcha-delivery.com var dd={'rt':'c'} -->"
    assert detect(html(403, body, {**CF, "x-datadome": "protected"})) == MANAGED


def test_a_compressed_or_binary_wall_body_is_not_read() -> None:
    dd = b"\x1f\x8b" + b"var dd={'rt':'c','cid':'x','host':'geo.captcha-delivery.com'}"
    assert detect(Response(URL, status=403, body=dd, headers=HTML)) is None
    aws = Response(URL, status=202, headers={"x-amzn-waf-action": "challenge"}, body=b"\x00" * 64)
    assert detect(aws) == Challenge("aws_waf", "challenge", True)
