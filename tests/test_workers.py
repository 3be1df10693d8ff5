"""Cleaning in a pool of worker processes (`--workers N`): the result does not depend on N.

Near-duplicates race: the first copy in walk order is made slow to clean (a long page), so with
several workers its later copy finishes first; the store still takes them in walk order, so the
first copy wins, as it does with one worker."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.conftest import check_ledger, crawler_subprocess, query
from tests.gen import sentence, write_corpus


def racing_corpus(folder: Path) -> Path:
    write_corpus(folder, 60)
    rng = random.Random(3)
    for k in range(8):
        words = [sentence(rng, False, 12) for _ in range(40)]
        menu = "".join(f'<li><a href="/section/{i}">Section {i}</a></li>' for i in range(4000))
        base = " ".join(words)
        # the first copy: the article behind a huge menu, which takes a while to parse and prune
        (folder / f"race{k}-a.html").write_text(
            f"<html><body><nav><ul>{menu}</ul></nav><article><h1>Race {k}</h1><p>{base}</p>"
            "</article></body></html>",
            "utf-8",
        )
        edited = base.replace(words[3], "changed words here", 1)
        (folder / f"race{k}-b.html").write_text(
            f"<html><body><article><h1>Race {k}</h1><p>{edited}</p></article></body></html>",
            "utf-8",
        )
        (folder / f"race{k}-c.txt").write_text(f"Race {k}\n\n{base}", "utf-8")  # exact copy
    return folder


def outcome(db: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    articles = query(db, "SELECT origin, content_hash FROM articles ORDER BY origin")
    ledger = query(
        db,
        """SELECT p.origin, p.state, p.reason, a.origin FROM pages p
           LEFT JOIN articles a ON a.id = coalesce(p.duplicate_of, p.article_id)
           ORDER BY p.origin""",
    )
    return articles, ledger


@pytest.mark.timeout(180)
def test_the_result_is_the_same_for_any_number_of_workers(tmp_path: Path) -> None:
    corpus = racing_corpus(tmp_path / "corpus")
    results = {}
    for workers, batch in ((1, "1"), (3, "64"), (2, "5")):
        db = tmp_path / f"w{workers}.db"
        run = crawler_subprocess(
            "load", str(corpus), "--db", str(db), "--workers", str(workers), "--batch", batch
        )
        assert run.returncode == 0, run.stderr
        check_ledger(db)
        results[workers] = outcome(db)
    assert results[1] == results[3] == results[2]
    ledger = {
        Path(str(o)).name: (s, r, Path(str(w)).name if w else None) for o, s, r, w in results[1][1]
    }
    for k in range(8):
        assert ledger[f"race{k}-a.html"][0] == "stored", ledger[f"race{k}-a.html"]
        assert ledger[f"race{k}-b.html"] == ("duplicate", "near", f"race{k}-a.html")
        assert ledger[f"race{k}-c.txt"][:2] == ("duplicate", "content")
    assert len(results[1][0]) == 60 + 8


@pytest.mark.timeout(120)
def test_inputs_in_flight_are_bounded_by_the_workers_not_the_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory grows with --workers, not with the folder: the loader reads ahead at most
    WINDOW_PER_WORKER inputs per worker before the oldest is stored."""
    from cleaners.worker import CleanerPool
    from crawler import loaders
    from crawler.writer import Writer

    corpus = tmp_path / "corpus"
    write_corpus(corpus, 80)
    in_flight, peak = [0], [0]
    submit, commit_group = CleanerPool.submit, Writer.commit_group

    def counting_submit(self: CleanerPool, *args: object, **kwargs: object) -> object:
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        return submit(self, *args, **kwargs)  # type: ignore[arg-type]

    def counting_commit(self: Writer, units: list[object]) -> object:
        in_flight[0] -= len(units)
        return commit_group(self, units)  # type: ignore[arg-type]

    monkeypatch.setattr(CleanerPool, "submit", counting_submit)
    monkeypatch.setattr(Writer, "commit_group", counting_commit)
    report = loaders.load([str(corpus)], db_path=str(tmp_path / "a.db"), workers=1, batch=1)
    assert report.inputs == 80
    assert 2 <= peak[0] <= loaders.WINDOW_PER_WORKER  # read ahead, and never further
