"""The docs are true about the files they point to: every relative link and every file
path they name exists (issue "Every input checked": docs that are true)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "benchmarks" / "README.md",
]

_LINK = re.compile(r"\]\(([^)\s]+)\)")
# a path in the repository named in inline code or prose: a tracked top folder, a file name
_PATH = re.compile(
    r"(?<![\w/.-])((?:src|docs|tests|examples|benchmarks|deploy|tools)/[\w./-]*\.(?:py|md|json|yaml|yml|toml|txt|out|csv|sh))\b"
)


def _links(doc: Path) -> list[str]:
    return [
        target
        for target in _LINK.findall(doc.read_text(encoding="utf-8"))
        if not re.match(r"^(?:[a-z]+:|#)", target)
    ]


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_relative_links_resolve(doc: Path) -> None:
    missing = [
        target for target in _links(doc) if not (doc.parent / target.split("#", 1)[0]).exists()
    ]
    assert not missing, f"{doc.relative_to(ROOT)} links to missing files: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_named_files_exist(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    named = sorted(set(_PATH.findall(text)))
    missing = [path for path in named if "*" not in path and not (ROOT / path).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} names missing files: {missing}"


def test_the_docs_are_found() -> None:
    assert len(DOCS) > 5 and all(d.is_file() for d in DOCS)
