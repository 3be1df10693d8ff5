"""All defaults in one place: Scrapy's settings and ours (prefixed by component).

`scrapy crawl` reads this module through scrapy.cfg; the `crawler` command reads the same names.
"""

from cleaners import limits as _limits
from cleaners.fingerprint import DedupConfig as _DedupConfig

_DEDUP = _DedupConfig()

BOT_NAME = "crawler"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
# Spiders written by hand in SPIDER_MODULES, and one for each web source of CRAWLER_SOURCES_FILE
SPIDER_LOADER_CLASS = "crawler.spiders.loader.SourceSpiderLoader"
# `scrapy crawl` prints the run report and exits with the run's status, as `crawler crawl` does
COMMANDS_MODULE = "crawler.commands"
# The crawl's run (lock, database, writer, cleaning pool), found with crawler.get_extension
EXTENSIONS = {
    "crawler.extensions.CrawlRun": 0,
    "crawler.archiving.WarcArchiver": 10,  # on when CRAWLER_ARCHIVE_DIR is set
    # Scrapy 2.19's remote control (an HTTP server that runs Python code, off by default: see
    # REMOTE_CONTROL_ENABLED below) is not even loaded: its module imports aiohttp, about 0.3 s of
    # every crawl's start
    "scrapy.extensions.remote_control.RemoteControl": None,
}

# --- our settings ----------------------------------------------------------------------------
CRAWLER_DB = "data/articles.db"
CRAWLER_SOURCES_FILE = "seeds/sources.toml"
CRAWLER_MAX_INPUT_BYTES = _limits.MAX_INPUT_BYTES
# seconds per input, in a worker process; 0 = in-process, no deadline
CRAWLER_EXTRACT_TIMEOUT = _limits.EXTRACT_TIMEOUT_SECONDS
CRAWLER_WORKER_MEMORY_MB = 4096  # address-space cap of each cleaning worker; 0 = no cap
CRAWLER_WORKERS = 0  # cleaning worker processes (pages cleaned at once); 0 = one per core
CRAWLER_CLUSTER_LEASE = 60.0  # seconds a job stays with a worker that stopped renewing it
CRAWLER_CLUSTER_SHARD = 100  # files per load job: the last jobs of a load end close together
CRAWLER_STORE_BATCH = 256  # inputs per store transaction, at most; 1 = each input on its own
# and how long the writer waits for more inputs to join a transaction (group commit), at most
CRAWLER_STORE_LINGER = 0.1
CRAWLER_ADHOC_MAX_PAGES = 200  # `crawler crawl URL`: responses at most (--max-pages)
# Keep every fetched response in WARC files in this folder (`crawler crawl --archive DIR`, or a
# source's `archive` key): `crawler load DIR` re-cleans them later without fetching again
CRAWLER_ARCHIVE_DIR = None
CRAWLER_ARCHIVE_FILE_MB = 1024  # a new WARC file once the current one is this large

DEDUP_ENABLED = True  # near-duplicate detection; exact dedup (URL, content hash) is always on
DEDUP_NUM_PERM = _DEDUP.num_perm
DEDUP_SEED = _DEDUP.seed
DEDUP_SHINGLE_SIZE = _DEDUP.shingle_size
DEDUP_BANDS = _DEDUP.bands
DEDUP_ROWS = _DEDUP.rows
DEDUP_THRESHOLD = _DEDUP.threshold
DEDUP_MIN_SHINGLES = _DEDUP.min_shingles
# what is shingled (cleaners.fingerprint): "article-v1", the article without chrome lines, CJK
# spacing and British spelling folded (issue 21); "plain", the stored text
DEDUP_NORMALISATION = _DEDUP.normalisation

# --- Scrapy: polite and bounded by default ---------------------------------------------------
# Sites see who crawls them and where to complain: set CRAWLER_CONTACT_URL to a page (or mailto:)
# about your crawl. The User-Agent is built from it unless USER_AGENT is set explicitly.
CRAWLER_CONTACT_URL = "https://example.invalid/crawler-contact"
USER_AGENT = None  # None: "dedup-crawler/VERSION (+CRAWLER_CONTACT_URL)"
ROBOTSTXT_OBEY = True
AUTOTHROTTLE_ENABLED = True
CONCURRENT_REQUESTS_PER_DOMAIN = 2  # also each source's `concurrency` unless it sets one
DOWNLOAD_DELAY = 1.0  # seconds between requests to a site; each source's `download_delay` default
# Scrapy handles each response's output (items, requests) with this many asyncio tasks, created
# afresh for every response: its default, 100, cost a crawl a quarter of its event loop's time
# (bench/crawl.py), and an article page yields one item. Items still run concurrently across
# responses (CONCURRENT_REQUESTS of them).
CONCURRENT_ITEMS = 4
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
# Scrapy's downloader stats (request and response counts and bytes, per method and status) cost
# every request and response a pass through one more middleware; the run report has its own
# counts (responses received come from CoreStats)
DOWNLOADER_STATS = False
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
# `scrapy crawl NAME -o pages.jsonl` (or .csv) lists the pages the crawl stored, one row each; the
# raw body and headers stay out (bytes do not serialise, and the articles are in the database:
# `crawler export` gives them)
FEED_EXPORT_FIELDS = [
    "origin", "url", "source", "status", "content_type", "encoding", "fetched_at", "etag",
    "last_modified", "attempts",
]  # fmt: skip
