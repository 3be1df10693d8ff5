"""Pure functions that turn raw bytes into clean articles. No Scrapy, no database."""
