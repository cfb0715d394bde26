"""Timing figures go stale inside the code: comments and docstrings keep the reasoning in
words, and the figures live in the README's performance section and the benchmarks."""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mailworker"

FIGURE = re.compile(r"\d[\d,.]*\s*(µs|us|ns|ms|s|sec|seconds|minutes|[KMG]i?B/s|[a-z]+/s)\b"
                    r"|\d[\d,.]*\s*[x×]\s*(faster|slower|the)\b|\b(faster|slower) than\b",
                    re.IGNORECASE)


def prose(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment and docstring line in ``source``."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    out = [(t.start[0], t.string) for t in tokens if t.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                first = node.body[0].lineno
                out += [(first + i, line) for i, line in enumerate(doc.splitlines())]
    return sorted(out)


def test_the_pattern_finds_figures_and_passes_sizes():
    found = [t for _, t in prose('"""Proofs: 30,000/s; 7,683x faster than X."""\n'
                                 "x = 1  # an append takes 80 ms; 16 KB pages\n"
                                 "y = 2  # one tile per 65,536 leaves, 3 of 4 replicas\n")
             if FIGURE.search(t)]
    assert found == ["Proofs: 30,000/s; 7,683x faster than X.",
                     "# an append takes 80 ms; 16 KB pages"]


def test_no_timing_figures_in_comments():
    stale = [f"{path.relative_to(PACKAGE)}:{line}: {text.strip()}"
             for path in sorted(PACKAGE.rglob("*.py"))
             for line, text in prose(path.read_text(encoding="utf-8"))
             if FIGURE.search(text)]
    assert stale == [], "move these figures to the README or the benchmarks"
