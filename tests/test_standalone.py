"""A fresh clone stands alone: its docs point at nothing outside the repository, and a benchmark
without its corpus says where to get it in one line instead of a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def test_docs_name_no_file_outside_the_repository() -> None:
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text("utf-8")
        for match in re.finditer(r"\.\./shared/[^\s`)]*", text):
            # the corpus copy the project's machines keep, always with where to get it
            assert "corpora/" in match.group(0), (doc.name, match.group(0))
            assert "scrapinghub/article-extraction-benchmark" in text, doc.name


@pytest.mark.parametrize(
    "script", ["load.py", "search_index.py", "run_all.py", "extraction.py", "dedup.py"]
)
def test_a_benchmark_without_its_corpus_says_where_to_get_it(script: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), str(tmp_path / "missing")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("bench: no extraction corpus at ")
    assert "scrapinghub/article-extraction-benchmark" in line
