"""Generated documents for load, memory and crash tests: distinct, deterministic, multilingual."""

from __future__ import annotations

import random
from pathlib import Path

_CONSONANTS = "bcdfghjklmnprstvwz"
_VOWELS = "aeiou"


def _word(rng: random.Random, korean: bool) -> str:
    """A pseudo-word: real text's vocabulary is large, so documents rarely share long n-grams."""
    if korean:
        return "".join(chr(0xAC00 + rng.randrange(11172)) for _ in range(rng.randint(1, 4)))
    return "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(rng.randint(1, 4)))


def sentence(rng: random.Random, korean: bool, n: int) -> str:
    return " ".join(_word(rng, korean) for _ in range(n)) + "."


def document(i: int) -> tuple[str, str]:
    """(file name, content) for document i: mostly plain text, every fifth one HTML."""
    rng = random.Random(i)
    korean = i % 2 == 1
    paragraphs = [" ".join(sentence(rng, korean, 12) for _ in range(4)) for _ in range(4)]
    if i % 5 == 0:
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        html = (
            f"<html><head><title>Doc {i}</title></head><body><nav>Home | News</nav>"
            f"<article><h1>Doc {i}</h1>{body}</article><footer>Contact</footer></body></html>"
        )
        return f"doc{i:05d}.html", html
    return f"doc{i:05d}.txt", f"Title {i}\n\n" + "\n\n".join(paragraphs)


def write_corpus(folder: Path, count: int, start: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        name, content = document(i)
        (folder / name).write_text(content, "utf-8")
    return folder
