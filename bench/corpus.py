"""Where the benchmarks find the development corpus, and one clear line when it is not there.

The corpus is the public article-extraction benchmark of Scrapinghub (github.com/scrapinghub/
article-extraction-benchmark, MIT licence): 181 real news and blog pages, `html/<id>.html.gz`,
with the human-written article body of each in `ground-truth.json`. The project's machines keep a
copy at `../shared/corpora/article-extraction-benchmark` beside the repository, the default here;
elsewhere, clone that repository and pass its folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT.parent / "shared" / "corpora" / "article-extraction-benchmark"
WHERE = (
    "it is github.com/scrapinghub/article-extraction-benchmark (html/*.html.gz and "
    "ground-truth.json): clone it and pass its folder"
)


def corpus_or_exit(path: Path | None) -> Path:
    """`path` (or the default) if it holds the corpus; else one line on stderr and exit 2."""
    chosen = path or DEFAULT
    if not (chosen / "ground-truth.json").is_file() or not (chosen / "html").is_dir():
        print(f"bench: no extraction corpus at {chosen}; {WHERE}", file=sys.stderr)
        sys.exit(2)
    return chosen
