"""`scrapy crawl NAME`: Scrapy's own command, ending as `crawler crawl NAME` ends: the run report
on stdout, one line on stderr for an error, and the run's exit status."""

from __future__ import annotations

import argparse
import sys

from scrapy.commands.crawl import Command as ScrapyCrawl
from scrapy.exceptions import UsageError

from crawler.crawl import CrawlError, finished, start


class Command(ScrapyCrawl):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("give one spider name")
        assert self.crawler_process is not None
        crawler = self.crawler_process.create_crawler(args[0])
        start(self.crawler_process, crawler, **opts.spargs)
        try:
            report = finished(crawler, args[0])
        except CrawlError as exc:
            if exc.report is not None:
                print(exc.report.render())
            print(f"crawler: error: {exc}", file=sys.stderr)
            self.exitcode = exc.code
            return
        print(report.render())
        self.exitcode = report.exit_code()
