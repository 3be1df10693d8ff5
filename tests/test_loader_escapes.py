"""File-loader escapes (issue 8): a folder walk never reads a byte outside the folder it was given.

Symlinks to files and folders outside, chains, loops, `..`, devices, FIFOs, sockets, gzip bombs,
broken and nested gzip, a folder named like a file, and files swapped for a link or a FIFO
between the walk's check and the read. The proof is twofold: a sentinel text that lives only
outside the loaded folder never reaches the database file (nor its WAL), and an in-process run
records every path the loader opens (`open`, `io.open`, `os.open`) and finds none outside.

tests/test_bad_input.py already covers one escaping symlink, one FIFO in a folder, a gzip bomb
under a 1 MB cap and an invalid .gz; this file extends those.
"""

from __future__ import annotations

import builtins
import gzip
import io
import os
import socket
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import Result

import crawler.loaders
from tests.conftest import SEED_ARTICLE, check_ledger, crawler_subprocess, query
from tests.test_hostile_inputs import TreeRSS

SENTINEL = "SENTINEL-3e1f0c9a-this-text-lives-only-outside-the-loaded-folder"
ARTICLE = (
    "The harbour master confirmed that the new breakwater will be finished before the autumn "
    "storms. Fishing boats will be able to shelter inside the outer wall from next month, and "
    "the old wooden jetty is to be kept as a landing stage for the island ferry."
)
OTHER = (
    "서울시는 내년부터 공공 도서관의 개관 시간을 밤 열 시까지 늘리기로 했다. 직장인과 학생의 "
    "요청이 많았고, 주말에는 어린이 열람실도 함께 연장 운영한다."
)
THIRD = (
    "東京都は来月から、都内の公園で無料の公衆無線LANを提供すると発表した。利用者は登録なしで"
    "一日二時間まで接続でき、災害時には時間制限なしで使えるという。"
)


def ledger(db: Path, prefix: Path | str = "") -> dict[str, tuple[str, str | None]]:
    """origin (relative to `prefix`) -> (state, reason)."""
    rows = query(db, "SELECT origin, state, reason FROM pages")
    start = f"{prefix}/" if prefix else ""
    return {str(o).removeprefix(start): (str(s), None if r is None else str(r)) for o, s, r in rows}


def assert_no_sentinel(db: Path) -> None:
    """The sentinel is nowhere in the database: not in any row, not in the file or its WAL."""
    for suffix in ("", "-wal", "-shm"):
        part = db.with_name(db.name + suffix)
        if part.exists():
            assert SENTINEL.encode() not in part.read_bytes(), part
    for table in ("articles", "pages"):
        rows = query(db, f"SELECT * FROM {table}")
        assert not any(SENTINEL in str(value) for row in rows for value in row)


def outside(tmp_path: Path) -> Path:
    """A folder next to the loaded one whose every file holds the sentinel."""
    out = tmp_path / "outside"
    (out / "deeper").mkdir(parents=True)
    text = f"{SENTINEL}\n\n{ARTICLE} {SENTINEL}\n"
    (out / "secret.txt").write_text(text, "utf-8")
    (out / "secret.html").write_text(f"<html><body><article><p>{text}</p></article></body></html>")
    (out / "deeper" / "secret.txt").write_text(text, "utf-8")
    (out / "secret.txt.gz").write_bytes(gzip.compress(text.encode()))
    return out


@contextmanager
def opened_paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every path opened in this process meanwhile, through open, io.open or os.open."""
    seen: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def note(file: object) -> None:
        if isinstance(file, str | bytes | os.PathLike):
            seen.append(os.fsdecode(file))

    def spy_open(file: object, *args: object, **kwargs: object) -> object:
        note(file)
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    def spy_os_open(path: object, *args: object, **kwargs: object) -> int:
        note(path)
        return real_os_open(path, *args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(builtins, "open", spy_open)
        patch.setattr(io, "open", spy_open)
        patch.setattr(os, "open", spy_os_open)
        yield seen


def real(path: str) -> Path:
    try:
        return Path(path).resolve()
    except RuntimeError:  # a symlink loop (Python < 3.13)
        return Path(os.path.abspath(path))


def escape_tree(tmp_path: Path) -> tuple[Path, Path]:
    """The loaded folder, full of ways out; returns (root, outside)."""
    out = outside(tmp_path)
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "a-article.txt").write_text(ARTICLE, "utf-8")
    (root / "b-target.txt").write_text(OTHER, "utf-8")
    (root / "sub" / "deep.txt").write_text(THIRD, "utf-8")
    (root / "x.html").mkdir()  # a folder named like a file: walked, never read as a file
    (root / "x.html" / "inner.txt").write_bytes(SEED_ARTICLE.read_bytes())
    links = {
        "link-absolute.txt": out / "secret.txt",
        "link-relative.html": Path("../outside/secret.html"),
        "link-gz.txt.gz": out / "secret.txt.gz",
        "link-folder": out,  # a folder outside: not descended into
        "link-folder.html": out,  # ... even when named like a file
        "via-folder-link.txt": root / "link-folder" / "secret.txt",  # through the link above
        "chain-1.txt": Path("chain-2.txt"),  # inside, inside, then out
        "chain-2.txt": Path("sub/chain-3.txt"),
        "sub/chain-3.txt": Path("../../outside/deeper/secret.txt"),
        "chain-in-1.txt": Path("chain-in-2.txt"),  # inside all the way: read (a URL duplicate)
        "chain-in-2.txt": Path("b-target.txt"),
        "out-and-back.txt": Path("../outside/../root/sub/deep.txt"),  # leaves, comes back
        "sub/up.txt": Path("../../outside/secret.txt"),
        "loop-self.txt": Path("loop-self.txt"),
        "loop-a.txt": Path("loop-b.txt"),
        "loop-b.txt": Path("loop-a.txt"),
        "dangling.txt": Path("nowhere.txt"),
        "dev-zero.txt": Path("/dev/zero"),
        "dev-urandom.html": Path("/dev/urandom"),
        "dev-zero.txt.gz": Path("/dev/zero"),
    }
    for name, target in links.items():
        (root / name).symlink_to(target)
    return root, out


ESCAPE_LEDGER = {
    "a-article.txt": ("stored", None),
    "b-target.txt": ("stored", None),
    "chain-1.txt": ("rejected", "outside_root"),
    "chain-2.txt": ("rejected", "outside_root"),
    # links that stay inside: the same file (URL and text) as b-target.txt, read once already
    "chain-in-1.txt": ("unchanged", "same_content"),
    "chain-in-2.txt": ("unchanged", "same_content"),
    "dangling.txt": ("failed", "unreadable"),
    "dev-urandom.html": ("rejected", "outside_root"),
    "dev-zero.txt": ("rejected", "outside_root"),
    "dev-zero.txt.gz": ("rejected", "outside_root"),
    "link-absolute.txt": ("rejected", "outside_root"),
    "link-gz.txt.gz": ("rejected", "outside_root"),
    "link-relative.html": ("rejected", "outside_root"),
    "loop-a.txt": ("failed", "unreadable"),  # ELOOP, as an unreadable file (was: the run died)
    "loop-b.txt": ("failed", "unreadable"),
    "loop-self.txt": ("failed", "unreadable"),
    "out-and-back.txt": ("stored", None),  # it is sub/deep.txt, met first (top folder first)
    "sub/chain-3.txt": ("rejected", "outside_root"),
    "sub/deep.txt": ("unchanged", "same_content"),
    "sub/up.txt": ("rejected", "outside_root"),
    "via-folder-link.txt": ("rejected", "outside_root"),
    "x.html/inner.txt": ("stored", None),
}
# Regular files inside the folder that a load opens; nothing else may be opened.
ESCAPE_READS = {"a-article.txt", "b-target.txt", "sub/deep.txt", "x.html/inner.txt"}


@pytest.mark.timeout(60)
def test_a_folder_walk_reads_nothing_outside_its_folder(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, out = escape_tree(tmp_path)
    started = time.monotonic()
    with opened_paths(monkeypatch) as seen:
        result = run_cli("load", str(root))
    assert time.monotonic() - started < 30
    assert result.exit_code == 3, result.output  # finished; the loops and the dangling link failed
    assert ledger(db_path, root) == ESCAPE_LEDGER
    assert "skipped          2  (symlinked_folder 2)" in result.output
    # what was opened: under the test's folder, only the regular files inside the root (read
    # through their own names or the links that stay inside), and the database's own files
    resolved = {real(p) for p in seen}
    mine = {p for p in resolved if p.is_relative_to(tmp_path.resolve())}
    reads = {p for p in mine if not p.is_relative_to(db_path.parent.resolve())}
    assert reads == {(root / name).resolve() for name in ESCAPE_READS}
    assert not any(p.is_relative_to(out.resolve()) for p in resolved)
    assert not {Path("/dev/zero"), Path("/dev/urandom")} & resolved
    assert_no_sentinel(db_path)
    check_ledger(db_path)
    # the real process, into another database: the same rows, the same silence
    db2 = tmp_path / "real.db"
    proc = crawler_subprocess("load", str(root), "--db", str(db2), timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert ledger(db2, root) == ESCAPE_LEDGER
    assert_no_sentinel(db2)
    check_ledger(db2)


@pytest.mark.timeout(60)
def test_a_file_relinked_between_the_walk_and_the_read_is_not_read(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk sees a regular file (or folder); before the read, it becomes a link out. The
    race is made deterministic by swapping inside a wrapper around the loader's read."""
    out = outside(tmp_path)
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "a-swapped.txt").write_text(ARTICLE, "utf-8")
    (root / "b-kept.txt").write_text(OTHER, "utf-8")
    (root / "sub" / "secret.txt").write_text(THIRD, "utf-8")  # sub/ becomes a link to outside/
    swaps: dict[str, Callable[[], None]] = {
        "a-swapped.txt": lambda: _relink(root / "a-swapped.txt", out / "secret.txt"),
        "secret.txt": lambda: _relink(root / "sub", out),
    }
    real_read = crawler.loaders.read_file

    def racing_read(path: str, max_bytes: int, *rest: object) -> bytes:
        swap = swaps.pop(os.path.basename(path), None)
        if swap:
            swap()
        return real_read(path, max_bytes, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(crawler.loaders, "read_file", racing_read)
    result = run_cli("load", str(root))
    assert not swaps  # both swaps happened
    assert result.exit_code == 0, result.output
    assert ledger(db_path, root) == {
        "a-swapped.txt": ("rejected", "outside_root"),
        "b-kept.txt": ("stored", None),
        "sub/secret.txt": ("rejected", "outside_root"),
    }
    details = query(db_path, "SELECT detail FROM pages WHERE reason = 'outside_root'")
    assert all("opened outside the folder" in str(d) for (d,) in details)
    assert_no_sentinel(db_path)
    check_ledger(db_path)


def _relink(path: Path, target: Path) -> None:
    """Replace `path` (a file or a folder) with a symlink to `target`, atomically."""
    temp = path.with_name(path.name + ".swap")
    temp.symlink_to(target)
    if path.is_dir() and not path.is_symlink():
        moved = path.with_name(path.name + ".gone")
        path.rename(moved)
    os.replace(temp, path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.timeout(30)
def test_a_file_swapped_for_a_fifo_after_its_check_does_not_hang(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loader checks the kind, then opens: a FIFO put in between (with no writer) would
    block a plain open forever. The open must not wait, and the FIFO is refused."""
    root = tmp_path / "root"
    root.mkdir()
    victim = root / "a-victim.txt"
    victim.write_text(ARTICLE, "utf-8")
    (root / "b-after.txt").write_text(OTHER, "utf-8")
    real_stat = os.stat
    armed = [True]

    def stat_then_swap(path: object, *args: object, **kwargs: object) -> os.stat_result:
        result = real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
        if armed[0] and isinstance(path, str) and path == str(victim):
            armed[0] = False
            victim.unlink()
            os.mkfifo(victim)
        return result

    monkeypatch.setattr(os, "stat", stat_then_swap)
    started = time.monotonic()
    result = run_cli("load", str(root))
    monkeypatch.undo()
    assert time.monotonic() - started < 20
    assert not armed[0]
    assert stat.S_ISFIFO(os.lstat(victim).st_mode)
    assert result.exit_code == 0, result.output
    assert ledger(db_path, root) == {
        "a-victim.txt": ("rejected", "not_regular_file"),
        "b-after.txt": ("stored", None),
    }
    check_ledger(db_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.timeout(60)
def test_fifos_sockets_and_devices_are_refused_without_blocking(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a-article.txt").write_text(ARTICLE, "utf-8")
    os.mkfifo(root / "fifo.txt.gz")  # a FIFO named like a compressed file
    os.mkfifo(root / "fifo.html")
    (root / "link-to-fifo.txt").symlink_to("fifo.html")  # a link that stays inside, to a FIFO
    monkeypatch.chdir(root)  # AF_UNIX paths are short (108 bytes): bind by relative name
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind("socket.txt")
    monkeypatch.chdir(tmp_path)
    expected = {
        "a-article.txt": ("stored", None),
        "fifo.html": ("rejected", "not_regular_file"),
        "fifo.txt.gz": ("rejected", "not_regular_file"),
        "link-to-fifo.txt": ("rejected", "not_regular_file"),
        "socket.txt": ("rejected", "not_regular_file"),
    }
    try:  # a device node inside the folder (needs privileges): the same as /dev/zero itself
        os.mknod(root / "zero-node.txt", stat.S_IFCHR | 0o600, os.makedev(1, 5))
        expected["zero-node.txt"] = ("rejected", "not_regular_file")
    except (PermissionError, AttributeError):
        pass
    named_fifo = tmp_path / "named-fifo"  # no extension: named directly, it would be sniffed
    os.mkfifo(named_fifo)
    named = ["/dev/zero", "/dev/urandom", str(named_fifo)]
    started = time.monotonic()
    with opened_paths(monkeypatch) as seen:
        result = run_cli("load", str(root), *named)
    assert time.monotonic() - started < 30
    assert result.exit_code == 0, result.output
    rows = ledger(db_path, root)
    assert {k: v for k, v in rows.items() if not k.startswith("/")} == expected
    assert {k: v for k, v in rows.items() if k.startswith("/")} == {
        p: ("rejected", "not_regular_file") for p in named
    }
    # only the article was opened: no FIFO, socket or device, not even to look
    specials = {(root / n).resolve() for n in expected if n != "a-article.txt"}
    specials |= {Path("/dev/zero"), Path("/dev/urandom"), named_fifo.resolve()}
    assert not {real(p) for p in seen} & specials
    check_ledger(db_path)


def _bomb(member_mb: int, copies: int) -> bytes:
    """A multi-member gzip of zeros: `member_mb * copies` MB once expanded, 1,000 times smaller."""
    return gzip.compress(bytes(member_mb << 20), compresslevel=9) * copies


@pytest.mark.timeout(90)
def test_gzip_bombs_broken_and_nested_gzip_are_bounded(tmp_path: Path) -> None:
    """A real process with the default 20 MB cap: 4 GB of zeros in a 4 MB file, a 1 TB sparse
    file, a .gz of a .gz, truncated and corrupt members. Each ends fast, in bounded memory."""
    root = tmp_path / "gz"
    root.mkdir()
    article = gzip.compress(SEED_ARTICLE.read_bytes())
    (root / "a-good.txt.gz").write_bytes(article)
    (root / "bomb-4gb.txt.gz").write_bytes(_bomb(64, 64))
    (root / "bomb-text.html.gz").write_bytes(gzip.compress(b"<p>" + b"a" * (64 << 20)) * 4)
    (root / "gz-of-gz.txt.gz").write_bytes(gzip.compress(gzip.compress(ARTICLE.encode())))
    (root / "truncated.txt.gz").write_bytes(article[: len(article) // 2])
    corrupt = bytearray(gzip.compress(OTHER.encode()))
    corrupt[-8] ^= 0xFF  # the CRC-32 in the trailer
    (root / "bad-crc.txt.gz").write_bytes(bytes(corrupt))
    (root / "trailing-garbage.txt.gz").write_bytes(gzip.compress(THIRD.encode()) + b"garbage!")
    (root / "empty.txt.gz").write_bytes(b"")
    with open(root / "sparse-1tb.txt", "wb") as sparse:
        sparse.truncate(1 << 40)  # no blocks on disk; refused by its size, never read
    with open(root / "sparse-1tb.txt.gz", "wb") as sparse:
        sparse.truncate(1 << 40)  # zeros are no gzip header: refused after a few bytes
    db = tmp_path / "gz.db"
    with TreeRSS(str(db)) as rss:
        started = time.monotonic()
        proc = crawler_subprocess("load", str(root), "--db", str(db), timeout=60)
        seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert ledger(db, root) == {
        "a-good.txt.gz": ("stored", None),
        "bad-crc.txt.gz": ("rejected", "bad_gzip"),
        "bomb-4gb.txt.gz": ("rejected", "too_large"),
        "bomb-text.html.gz": ("rejected", "too_large"),
        "empty.txt.gz": ("rejected", "empty"),
        "gz-of-gz.txt.gz": ("rejected", "not_text"),  # decompressed once: gzip bytes are binary
        "sparse-1tb.txt": ("rejected", "too_large"),
        "sparse-1tb.txt.gz": ("rejected", "bad_gzip"),
        "trailing-garbage.txt.gz": ("rejected", "bad_gzip"),  # Python's gzip wants a next member
        "truncated.txt.gz": ("rejected", "bad_gzip"),
    }
    # measured on 2 cores: about 3 s, and 450 MB for the whole process tree, most of it the
    # cleaning worker and its fork server with the language model loaded; of a 4 GB bomb the
    # loader holds at most the cap, 20 MB
    assert seconds < 20, seconds
    assert rss.peak < 900 << 20, rss.peak >> 20
    check_ledger(db)


@pytest.mark.timeout(60)
def test_dot_dot_in_given_paths_is_the_users_choice_but_never_the_walks(
    run_cli: Callable[..., Result], db_path: Path, tmp_path: Path
) -> None:
    """`root/../root2` loads root2; a file named through `..` is loaded wherever it lies (the
    user named it); inside a walk, a relative link climbing out with `..` is refused."""
    out = outside(tmp_path)
    (out / "named.txt").write_text(THIRD, "utf-8")  # outside, but named on the command line
    root, root2 = tmp_path / "root", tmp_path / "root2"
    root.mkdir()
    (root2 / "sub").mkdir(parents=True)
    (root2 / "a.txt").write_text(ARTICLE, "utf-8")
    (root2 / "sub" / "b.txt").write_text(OTHER, "utf-8")
    (root2 / "up.txt").symlink_to("../outside/secret.txt")
    (root2 / "sub" / "up-up.txt").symlink_to("../../root2/../outside/deeper/secret.txt")
    via = f"{root}/../root2"
    named = f"{root2}/sub/../../outside/named.txt"
    again = f"{root2}/sub/.."  # the same folder under another spelling: the same answers
    result = run_cli("load", via, again, named)
    assert result.exit_code == 0, result.output
    assert ledger(db_path) == {
        f"{via}/a.txt": ("stored", None),
        f"{via}/sub/b.txt": ("stored", None),
        f"{via}/sub/up-up.txt": ("rejected", "outside_root"),
        f"{via}/up.txt": ("rejected", "outside_root"),
        f"{again}/a.txt": ("unchanged", "same_content"),
        f"{again}/sub/b.txt": ("unchanged", "same_content"),
        f"{again}/sub/up-up.txt": ("rejected", "outside_root"),
        f"{again}/up.txt": ("rejected", "outside_root"),
        named: ("stored", None),
    }
    assert query(db_path, "SELECT url FROM articles WHERE origin = ?", (named,)) == [
        ((out / "named.txt").resolve().as_uri(),)
    ]
    assert_no_sentinel(db_path)
    check_ledger(db_path)
