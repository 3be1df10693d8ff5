"""All defaults in one place: Scrapy's settings and ours (prefixed by component).

`scrapy crawl` reads this module through scrapy.cfg; the `crawler` command reads the same names.
"""

BOT_NAME = "crawler"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# --- our settings ----------------------------------------------------------------------------
CRAWLER_DB = "data/articles.db"
CRAWLER_SOURCES_FILE = "seeds/sources.toml"
CRAWLER_MAX_INPUT_BYTES = 20 * 1024 * 1024
CRAWLER_EXTRACT_TIMEOUT = (
    30.0  # seconds per input, in a worker process; 0 = in-process, no deadline
)
CRAWLER_WORKER_MEMORY_MB = 4096  # address-space cap of each cleaning worker; 0 = no cap
CRAWLER_WORKERS = 0  # cleaning worker processes (pages cleaned at once); 0 = one per core
CRAWLER_STORE_BATCH = 256  # inputs per store transaction, at most; 1 = each input on its own

DEDUP_ENABLED = True  # near-duplicate detection; exact dedup (URL, content hash) is always on
DEDUP_NUM_PERM = 128
DEDUP_SEED = 1
DEDUP_SHINGLE_SIZE = 5
DEDUP_BANDS = 20
DEDUP_ROWS = 5  # bands, rows, threshold: chosen from the bench/dedup.py curve (issue 21)
DEDUP_THRESHOLD = 0.7
DEDUP_MIN_SHINGLES = 50
DEDUP_NORMALISATION = "article-v1"  # what is shingled: cleaners.fingerprint.shingle_text

# --- Scrapy: polite and bounded by default ---------------------------------------------------
# Sites see who crawls them and where to complain: set CRAWLER_CONTACT_URL to a page (or mailto:)
# about your crawl. The User-Agent is built from it unless USER_AGENT is set explicitly.
CRAWLER_CONTACT_URL = "https://example.invalid/crawler-contact"
USER_AGENT = None  # None: "dedup-crawler/VERSION (+CRAWLER_CONTACT_URL)"
ROBOTSTXT_OBEY = True
AUTOTHROTTLE_ENABLED = True
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_MAXSIZE = CRAWLER_MAX_INPUT_BYTES
DOWNLOAD_WARNSIZE = 5 * 1024 * 1024
DOWNLOAD_TIMEOUT = 30
RETRY_ENABLED = True
RETRY_TIMES = 2  # so at most 3 attempts; the ledger's `attempts` says how many a page took
RETRY_BACKOFF_BASE = 2.0  # seconds before the first retry, doubled for each next one
RETRY_BACKOFF_MAX = 60.0  # also the cap on a server's Retry-After
DOWNLOAD_HANDLERS = {"file": None, "data": None, "ftp": None, "s3": None}
# Pages that do not become new articles are dropped by the pipeline with their reason; that is
# an outcome (in the ledger and the run report), not a warning.
DEFAULT_DROPITEM_LOG_LEVEL = "INFO"
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19's remote-control extension runs an HTTP server that executes Python code (token in a
# job file under ~/.local/state): like the telnet console, not something an unattended crawl opens.
REMOTE_CONTROL_ENABLED = False
ITEM_PIPELINES = {"crawler.pipelines.StorePipeline": 300}
# Before robots.txt (100) and everything else: no request leaves for a refused address.
DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.LedgerNetMiddleware": 1,  # every article request ends in the ledger
    "crawler.middlewares.AddressPolicyMiddleware": 50,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.middlewares.StrictRobotsTxtMiddleware": 100,  # 5xx/unreachable robots.txt = disallow
    "crawler.middlewares.IncrementalMiddleware": 120,  # stored URLs: skip or ask "changed since?"
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,  # Scrapy's retries, with backoff
    # Scrapy's own, with every way they drop a request recorded in the ledger
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawler.middlewares.RecordedMetaRefreshMiddleware": 580,
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "crawler.middlewares.RecordedCompressionMiddleware": 590,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "crawler.middlewares.RecordedRedirectMiddleware": 600,
}
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
