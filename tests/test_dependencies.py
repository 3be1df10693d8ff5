"""Dependencies honestly declared: every third-party package the product imports is in
pyproject.toml, and every private name of Scrapy and datasketch it relies on (behind the upper
bounds pinned there) still exists, so an upgrade that removes one fails here, not in a crawl."""

from __future__ import annotations

import ast
import importlib
import sys
import tomllib
from importlib.metadata import packages_distributions

import pytest

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
OURS = {"cleaners", "crawler", "db"}


def _declared() -> set[str]:
    names = set()
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = requirement.split(";")[0]
        for mark in "<>=!~[ ":
            name = name.split(mark)[0]
        names.add(name.strip().lower().replace("_", "-"))
    return names


def _imported() -> set[str]:
    found = set()
    for package in OURS:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    found.add(node.module.split(".")[0])
    return found - OURS - set(sys.stdlib_module_names) - {"__future__"}


def test_every_imported_package_is_declared() -> None:
    distributions = packages_distributions()
    declared = _declared()
    for module in sorted(_imported()):
        owners = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        assert owners & declared, f"{module} is imported but {sorted(owners)} is not declared"


# (module, attribute path) of every private name the product uses
PRIVATE = [
    ("scrapy.spiders", "SitemapSpider._parse_sitemap"),  # crawler/spiders/configured.py
    ("scrapy.spiders", "SitemapSpider._get_sitemap_body"),
    ("scrapy.downloadermiddlewares.robotstxt", "RobotsTxtMiddleware._parse_robots"),  # middlewares
    ("scrapy.downloadermiddlewares.robotstxt", "RobotsTxtMiddleware._robots_error"),
    ("datasketch.minhash", "_fmix"),  # cleaners/fingerprint.py
    # cleaners/extract.py: bare_extraction's inner steps, for the trafilatura version it checks
    ("trafilatura.core", "trafilatura_sequence"),
    ("trafilatura.htmlprocessing", "prune_unwanted_nodes"),
    ("trafilatura.xml", "xmltotxt"),
]


@pytest.mark.parametrize(("module", "name"), PRIVATE, ids=[n for _m, n in PRIVATE])
def test_private_names_we_rely_on_still_exist(module: str, name: str) -> None:
    target: object = importlib.import_module(module)
    for part in name.split("."):
        assert hasattr(target, part), f"{module}.{name} is gone: adapt the code, then the bound"
        target = getattr(target, part)


def test_robots_middleware_keeps_its_parser_table() -> None:
    """StrictRobotsTxtMiddleware replaces entries of `_parsers` and builds `_parserimpl`."""
    from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
    from scrapy.utils.test import get_crawler

    middleware = RobotsTxtMiddleware.from_crawler(
        get_crawler(settings_dict={"ROBOTSTXT_OBEY": True})
    )
    assert isinstance(middleware._parsers, dict)
    assert middleware._parserimpl is not None
