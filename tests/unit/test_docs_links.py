"""The documentation holds together: every relative link resolves, the README stays a front door,
and nothing cites a document the repository does not hold."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README_MAX_LINES = 250
UNHELD = ("BILLING.md", "CONTRACT.md", "../shared")  # documents outside the repository

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...


def documents(root: Path = ROOT) -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors on its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor GitHub makes for the headings of `path` (a repeated heading gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(path.read_text()):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(paths: list[Path], root: Path = ROOT) -> list[str]:
    """Each relative link of `paths` whose file is missing or whose #anchor names no heading there."""
    problems = []
    for path in paths:
        for number, line in prose_lines(path.read_text()):
            for target in LINK.findall(INLINE_CODE.sub("", line)):
                if EXTERNAL.match(target):
                    continue
                where = f"{path.relative_to(root)}:{number}: {target}"
                file_part, _, anchor = target.partition("#")
                linked = (path.parent / file_part).resolve() if file_part else path
                if not linked.exists():
                    problems.append(f"{where}: no such file")
                elif root not in linked.parents and linked != root:
                    problems.append(f"{where}: outside the repository")
                elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
                    problems.append(f"{where}: no heading #{anchor}")
    return problems


def test_every_relative_link_in_the_readme_and_docs_resolves():
    assert broken_links(documents()) == []


def test_the_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "api.md").write_text("# The API\n\n## Rate limits (per user)\n\n## Errors\n## Errors\n")
    (tmp_path / "README.md").write_text(
        "[ok](docs/api.md#rate-limits-per-user) [ok](docs/api.md#errors-1) [ok](#readme) [web](https://x.example)\n"
        "# Readme\n"
        "[gone](docs/billing.md) [wrong](docs/api.md#rate-limits) `[in code](docs/nothing.md)`\n"
        "```\n[in a block](docs/nothing.md)\n```\n"
    )
    assert broken_links(documents(tmp_path), tmp_path) == [
        "README.md:3: docs/billing.md: no such file",
        "README.md:3: docs/api.md#rate-limits: no heading #rate-limits",
    ]


def test_github_anchors():
    assert slug("Authentication (Clerk)") == "authentication-clerk"
    assert slug("One request's path") == "one-requests-path"
    assert slug("Libraries beyond the design card, and why") == "libraries-beyond-the-design-card-and-why"
    assert slug("`make bench`: what it measures") == "make-bench-what-it-measures"


def test_the_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move details to docs/"


def test_the_readme_lists_every_make_target():
    makefile = (ROOT / "Makefile").read_text()
    targets = re.search(r"^\.PHONY:(.*)$", makefile, re.MULTILINE).group(1).split()
    readme = (ROOT / "README.md").read_text()
    assert [t for t in targets if f"`make {t}" not in readme] == []


def test_nothing_cites_a_document_the_repository_does_not_hold():
    paths = [ROOT / "README.md", ROOT / "config.py", *(ROOT / "docs").rglob("*"), *(ROOT / "app").rglob("*")]
    citing = []
    for path in paths:
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:  # images
            continue
        citing += [f"{path.relative_to(ROOT)}: {name}" for name in UNHELD if name in text]
    assert citing == []
