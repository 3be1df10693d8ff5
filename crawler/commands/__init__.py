"""Scrapy commands of this project (COMMANDS_MODULE): `scrapy crawl` that reports like `crawler crawl`."""
