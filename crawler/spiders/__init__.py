"""Scrapy spiders of the logosim project (``scrapy crawl logos``)."""
