"""Scrapy commands of the logos project (setting COMMANDS_MODULE): ``crawl`` with an exit status that tells."""
