"""Scrapy settings for the logo crawl: a broad crawl (millions of domains, a few requests each), one block A-Z.

Tuning, and why:
- Broad crawls are bound by network latency, not CPU: many concurrent requests across hosts
  (CONCURRENT_REQUESTS), but at most two at once to one host (CONCURRENT_REQUESTS_PER_DOMAIN) so no site
  sees more than a couple of requests in flight; no download delay, since a site gets ~3 requests in total.
- A dead or slow site must cost one bounded wait, never stall the crawl: DOWNLOAD_TIMEOUT 15 s per request,
  DNS_TIMEOUT 10 s, DNS errors / refused connections / timeouts are not retried (they are how 10-20 % of a
  real domain list answers, and a retry would only double their cost); only transient failures (5xx, 429,
  dropped connections) are retried, twice, with exponential back-off. ``Retry-After`` is honoured but capped
  at LOGOSIM_RETRY_AFTER_MAX seconds: one site must not park a download slot for minutes.
- Caps: a homepage is truncated at LOGOSIM_HOMEPAGE_MAXSIZE (the logo lives in <head>/<header>, and a 5 MB
  page costs parse time for nothing), whatever length it declares (crawler.homepage_cap); one that declares
  more stops at its <main> once its header logo has come (LOGOSIM_HOMEPAGE_STOP_AT_MAIN), and a stopped
  download drops its connection. An image over DOWNLOAD_MAXSIZE (10 MB) is refused: real logos are kilobytes.
- robots.txt is NOT obeyed (ROBOTSTXT_OBEY False): we fetch what a browser fetches to show a homepage (the
  page and one of its images), never crawl deeper; obeying would add a request per site and drop sites that
  disallow all bots but still show their logo to every visitor. Identify honestly with USER_AGENT instead.
- Cookies off, no duplicate filter (brand families share one logo URL; we de-duplicate per site ourselves),
  DNS cache on, the telnet console off.
"""

from __future__ import annotations

BOT_NAME = "logosim"
SPIDER_MODULES = ["crawler.spiders"]
COMMANDS_MODULE = "crawler.commands"  # crawl exits 1 when it refused (crawler/commands/crawl.py)
NEWSPIDER_MODULE = "crawler.spiders"

_BROWSER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
               " logosim/0.1 (+https://github.com/logosim)")

# Nothing here reads the environment: `logosim crawl` and `scrapy crawl logos` (crawler/commands/crawl.py) both
# turn the one configuration object (common.config) into settings (crawler.runner.config_settings).

AJAXCRAWL_ENABLED = False
# Every callback here returns one request or one item. Scrapy (>= 2.13, asyncio reactor) starts
# CONCURRENT_ITEMS asyncio tasks for each callback's output whatever its length: at 50 that was ~8 % of the
# crawler's CPU in a profile of bench/crawl.py, for no parallelism at all.
CONCURRENT_ITEMS = 1
CONCURRENT_REQUESTS = 128
CONCURRENT_REQUESTS_PER_DOMAIN = 2
COOKIES_ENABLED = False
DNSCACHE_ENABLED = True
DNSCACHE_SIZE = 50_000
DNS_TIMEOUT = 10
DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.LogoConversionMiddleware": 50,  # outermost: sees the final response of a redirect chain
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    "crawler.encodings.WebEncodingMiddleware": 585,  # after decompression (590), before meta refresh (580)
    "crawler.homepage_cap.HomepageCapMiddleware": 595,  # between HttpCompressionMiddleware (590) and the downloader
    "crawler.proxy.ConfiguredProxyMiddleware": 740,  # LOGOSIM_PROXY, just before Scrapy's HttpProxyMiddleware
    "crawler.addressguard.AddressGuardMiddleware": 760,  # after HttpProxyMiddleware (750): sees meta["proxy"]
}
# No file://, ftp:// or s3:// fetches: a page must not make the crawler read this machine or a bucket.
DOWNLOAD_HANDLERS = {"file": None, "ftp": None, "s3": None}
DOWNLOAD_DELAY = 0
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_TIMEOUT = 15
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
DUPEFILTER_CLASS = "scrapy.dupefilters.BaseDupeFilter"
ITEM_PIPELINES = {
    "crawler.frontier_worker.FrontierCommitPipeline": 200,  # only with LOGOSIM_FRONTIER: commit before writing
    "crawler.pipelines.LogoFilePipeline": 300,
    "crawler.pipelines.ManifestPipeline": 800,
    "crawler.frontier_worker.FrontierPipeline": 900,  # only with LOGOSIM_FRONTIER: marks the domain done
}
LOG_LEVEL = "INFO"
LOGOSIM_ALLOW_PRIVATE_ADDRESSES = False  # True only for intranet crawls: lets requests reach non-global addresses
LOGOSIM_BROWSER = "auto"  # auto: script-built pages read again in headless Chromium (crawler.browser); never; always
LOGOSIM_BROWSER_DEADLINE = 15.0  # seconds from a page's navigation to its served DOM (then the request fails)
LOGOSIM_BROWSER_PAGES = 4  # pages open at once (each ~100 MB in Chromium)
LOGOSIM_BROWSER_SETTLE = 3.0  # seconds to wait for the page's load event, then its DOM is read as it stands
LOGOSIM_CHROMIUM = None  # the Chromium to drive; default: chromium (Debian's) on PATH
LOGOSIM_CONVERT_CPU_S = 8  # CPU seconds per logo in a worker (RLIMIT_CPU): the kernel's backstop to the deadline
LOGOSIM_CONVERT_DEADLINE = 5.0  # wall-clock seconds per logo; then the worker is killed: convert_timeout (calibration: convertpool)
LOGOSIM_CONVERT_MEMORY_MB = 2048  # a conversion worker's address space (RLIMIT_AS); calibration in convert/pool.py
LOGOSIM_CONVERT_PROCESSES = 1  # >0: convert in worker processes (SVG rendering holds the GIL); 0: threads
LOGOSIM_DATA_DIR = "data"  # where the manifest and logos/ go
# Seconds for the extraction of one page (and of one stylesheet), then the site is recorded extract_timeout: the
# slowest of the 195 real pages (../shared/data/real-pages*) takes 0.82 s alone on this machine (pikabu, 0.9 MB;
# the median 0.05 s), a crawl's threads share one core's GIL, so 12x that.
LOGOSIM_EXTRACT_DEADLINE = 10.0
LOGOSIM_FRONTIER = None  # redis://HOST:PORT/DB: one worker of a shared crawl (crawler/frontier.py)
LOGOSIM_FRONTIER_BATCH = 16  # domains leased per Redis round trip
LOGOSIM_FRONTIER_GRACE = 600.0  # seconds before a gone worker's committing domains are crawled again (why: crawler/frontier.py GRACE)
LOGOSIM_FRONTIER_LEASE = 60.0  # seconds a taken domain stays this worker's without a renewal (renewed every 1/3)
LOGOSIM_FALLBACK_TIMEOUT = 5.0  # seconds for the other scheme after a timeout: a port-443 firewall answers fast on 80
LOGOSIM_HOMEPAGE_MAXSIZE = 2 * 1024 * 1024
LOGOSIM_HOMEPAGE_STOP_AT_MAIN = True  # a page over the cap stops at <main> when its header logo came first (crawler.homepage_cap)
LOGOSIM_LOGO_MAX_SIDE = 512
LOGOSIM_LOGO_MIN_SIDE = 16
# A body under LOW_SPEED_LIMIT bytes/s on average LOW_SPEED_TIME s after its first bytes is stopped as a timeout
# (crawler.spiders.logos.on_bytes). At that rate a page could not arrive within DOWNLOAD_TIMEOUT anyway: 193 of
# the 195 real pages (../shared/data/real-pages*) are over 15 KB (the smallest 3.1 KB, the median 100 KB); the
# rule says so after 5 s instead of 15 (the fixture's slow sites trickle at 2 bytes/s).
LOGOSIM_LOW_SPEED_LIMIT = 1024
LOGOSIM_LOW_SPEED_TIME = 5.0
LOGOSIM_MAX_CANDIDATES = 6  # logo fetches per site before giving up: the best few are almost always right
LOGOSIM_MAX_REFRESHES = 3  # <meta http-equiv=refresh> hops followed by the spider itself
LOGOSIM_MAX_STYLESHEETS = 3  # same-origin sheets read when the markup shows no header logo but has an element to paint (crawler.stylesheets)
LOGOSIM_STYLESHEET_MAXSIZE = 256 * 1024  # bytes; a bigger sheet is skipped
LOGOSIM_PROXY = None  # a forward proxy URL for every request (the demo's web); http_proxy works too
LOGOSIM_SHARED_FOLDER = False  # True in each of a crawl's processes (crawler.processes): no sweep, no compaction
LOGOSIM_RETRY_AFTER_MAX = 10.0  # seconds; a larger Retry-After is cut to this
LOGOSIM_RETRY_BACKOFF = 0.5  # seconds; doubled per retry when the server gives no Retry-After
LOGOSIM_WORKER = None  # this worker's name on the frontier; default HOST-PID
MEMUSAGE_ENABLED = False
METAREFRESH_ENABLED = True
METAREFRESH_MAXDELAY = 30
REACTOR_THREADPOOL_MAXSIZE = 8  # image conversion and HTML parsing run here, off the reactor thread
REDIRECT_MAX_TIMES = 5
RETRY_ENABLED = True
RETRY_EXCEPTIONS = [
    "scrapy.exceptions.ResponseDataLossError",
    "twisted.internet.error.ConnectionDone",
    "twisted.internet.error.ConnectionLost",
    "twisted.web._newclient.ResponseNeverReceived",
]
RETRY_GIVE_UP_LOG_LEVEL = "DEBUG"  # giving up is an outcome recorded in the manifest, not an error
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
RETRY_TIMES = 2
ROBOTSTXT_OBEY = False
SCHEDULER_PRIORITY_QUEUE = "scrapy.pqueues.DownloaderAwarePriorityQueue"
TELNETCONSOLE_ENABLED = False
TWISTED_DNS_RESOLVER = "crawler.addressguard.GlobalOnlyResolver"  # refuses non-global answers (DNS rebinding)
USER_AGENT = _BROWSER_UA
