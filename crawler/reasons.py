"""Why a site or a logo could not be fetched: one short reason code per failure, as stored in the manifest.

Site reasons (status ``failed``: the homepage could not be fetched):
    dns_error            the name does not resolve (also a proxy's ERR_DNS_FAIL)
    connection_refused   nothing listens on the port (also a proxy's ERR_CONNECT_FAIL / refused CONNECT)
    timeout              no complete answer within DOWNLOAD_TIMEOUT
    tls_error            the TLS handshake failed
    connection_lost      the server closed the connection mid-answer
    http_404, http_403…  a 4xx answer for the homepage (after redirects)
    http_5xx             any 5xx answer, after retries
    too_many_redirects   more than REDIRECT_MAX_TIMES redirects (or a loop)
    homepage_too_large   a compressed homepage inflating past DOWNLOAD_MAXSIZE (one merely declaring more is
                         truncated at LOGOSIM_HOMEPAGE_MAXSIZE instead, crawler.homepage_cap)
    proxy_error          the configured proxy refused the request for another reason
    blocked_private_address  the URL (or a redirect hop) names a non-global address (common.netguard)
    download_error:<Exc> anything else, with the exception's class name
Site reasons (status ``no_logo``: the site answered):
    not_html                      the homepage is not an HTML page
    no_candidates                 the page shows nothing that could be a logo
    all_candidates_failed:<last>  every candidate tried failed; <last> is the last one's reason (a reason
                                  above, e.g. http_404, or a converter reason: not_an_image, too_large, ...)
    internal_error:<Exc>          a bug in logosim for this site (the crawl goes on)
"""

from __future__ import annotations

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
    StopDownload,
)
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as twisted_error
from twisted.python.failure import Failure

from common.netguard import BLOCKED
from crawler.addressguard import BlockedAddress

# Ranked from "got furthest" to "got nowhere": of a site's several homepage attempts, the best one is reported.
_RANK = ("http_", "too_many_redirects", "homepage_too_large", "not_html", "blocked_private_address",
         "connection_lost", "timeout",
         "tls_error", "proxy_error", "download_error", "connection_refused", "dns_error")
SQUID_ERRORS = {"ERR_DNS_FAIL": "dns_error", "ERR_CONNECT_FAIL": "connection_refused"}


def rank(reason: str) -> int:
    return next((i for i, prefix in enumerate(_RANK) if reason.startswith(prefix)), len(_RANK))


def best_reason(reasons: list[str]) -> str:
    return min(reasons, key=rank) if reasons else "download_error:unknown"


def proxy_reason(response: Response) -> str | None:
    """A forward proxy (Squid and kin) reports DNS and connection failures as 5xx plus an X-Squid-Error."""
    header = response.headers.get(b"X-Squid-Error")
    if not header:
        return None
    code = header.decode("latin-1").split()[0]
    return SQUID_ERRORS.get(code, "proxy_error")


def status_reason(status: int) -> str:
    return "http_5xx" if status >= 500 else f"http_{status}"


def failure_reason(failure: Failure | BaseException, *, homepage: bool = False) -> str:
    """Map a download failure (what an errback receives) to a reason code."""
    exc = failure.value if isinstance(failure, Failure) else failure
    if isinstance(exc, HttpError):
        return proxy_reason(exc.response) or status_reason(exc.response.status)
    return _exception_reason(exc, homepage)


def _exception_reason(exc: BaseException, homepage: bool) -> str:
    text = str(exc)
    if isinstance(exc, BlockedAddress):
        return BLOCKED
    if isinstance(exc, StopDownload) and exc.fail:  # only the low-speed rule stops a download as failed
        return "timeout"
    checks: tuple[tuple[type | tuple[type, ...], str], ...] = (
        ((CannotResolveHostError, twisted_error.DNSLookupError), "dns_error"),
        ((DownloadConnectionRefusedError, twisted_error.ConnectionRefusedError), "connection_refused"),
        ((DownloadTimeoutError, twisted_error.TimeoutError, TimeoutError), "timeout"),
        ((ResponseDataLossError, twisted_error.ConnectionLost, twisted_error.ConnectionDone), "connection_lost"),
    )
    for types, reason in checks:
        if isinstance(exc, types):
            return reason
    name = type(exc).__name__
    if name == "TunnelError":
        return _tunnel_reason(text)
    if isinstance(exc, DownloadCancelledError) or "max size" in text or "maxsize" in text or "MAXSIZE" in text:
        return "homepage_too_large" if homepage else "too_large"
    if isinstance(exc, IgnoreRequest) and "redirect" in text:
        return "too_many_redirects"
    if "SSL" in text or "TLS" in text or "certificate" in text or "SSL" in name:
        return "tls_error"
    if name == "ResponseNeverReceived":
        return "connection_lost"
    return f"download_error:{name}"


def _tunnel_reason(text: str) -> str:
    """Scrapy's TunnelError carries the proxy's status line: classify by its reason phrase."""
    lowered = text.lower()
    if "dns" in lowered or "resolve" in lowered or "name" in lowered:
        return "dns_error"
    if "refused" in lowered or "connect_fail" in lowered:
        return "connection_refused"
    if "timeout" in lowered or "timed out" in lowered:
        return "timeout"
    return "proxy_error"
