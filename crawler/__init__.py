"""The Scrapy project, the file loader and the `crawler` command line."""
