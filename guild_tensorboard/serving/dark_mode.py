"""TensorBoard in its own dark theme by default (`--dark-mode`).

TensorBoard's front end reads the feature flag `darkMode` from its page's
query (`?darkMode=true` sets its `defaultEnableDarkMode`); a choice the user
makes with TensorBoard's own theme toggle still wins. The middleware sends
a request for the page without the flag to the same page with it, so every
way in (the printed URL, a bookmark, a proxy's prefix) opens dark; the
browser keeps the `#tab` across the redirect.
"""

QUERY_FLAG = "darkMode"


def dark_mode_url(url):
    """`url` (TensorBoard's page, maybe with `#tab`) with the flag."""
    base, hash_, tab = url.partition("#")
    sep = "&" if "?" in base else "?"
    return "%s%s%s=true%s%s" % (base, sep, QUERY_FLAG, hash_, tab)


def dark_mode_middleware(app):
    """WSGI middleware: TensorBoard's page (`/`) redirects to itself with
    `darkMode=true` unless its query names the flag; the rest is `app`'s."""

    def serve(environ, start_response):
        query = environ.get("QUERY_STRING", "")
        if environ.get("PATH_INFO", "") in ("", "/") and not _names_flag(query):
            location = "?%s=true%s" % (QUERY_FLAG, "&" + query if query else "")
            start_response("302 Found", [("Location", location), ("Content-Length", "0")])
            return [b""]
        return app(environ, start_response)

    return serve


def _names_flag(query):
    return any(part.split("=", 1)[0] == QUERY_FLAG for part in query.split("&"))
