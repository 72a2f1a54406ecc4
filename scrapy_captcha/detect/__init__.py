"""Pure reading of responses: Cloudflare markers and the other walls, captcha widgets,
pages and their forms, encodings, scripts. Functions of one response, no I/O, bounded work.

May import: the base modules at the package's top (``errors``, ``_kinds``, ``settings``,
``_state``...), nothing else of the package.
"""
