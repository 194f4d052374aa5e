"""The docs hold together: every relative link in README.md, MATH.md, docs/*.md and the notebooks' markdown
points at a file that exists and, with ``#anchor``, at a heading of that file (GitHub's slug rule); the README
keeps its two set-up commands on top and links every docs page."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "MATH.md", *sorted((ROOT / "docs").glob("*.md"))]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set:
    lines = path.read_text().splitlines()
    fenced, out = False, set()
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            out.add(slug(line.lstrip("#")))
    return out


def _markdown(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text()


@pytest.mark.parametrize("page", PAGES + NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    bad = []
    for target in LINK.findall(_markdown(page)):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            bad.append(f"{target}: no file {dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert not bad, f"{page.name}: " + "; ".join(bad)


def test_slug_rule():
    assert slug(" `endorm verify`") == "endorm-verify"
    assert slug(" Python API (`endorm.tabular`)") == "python-api-endormtabular"


def test_readme_first_screen():
    text = (ROOT / "README.md").read_text()
    head = text[:text.index("## What is here")]
    assert head.count("```bash") == 2, "exactly two set-up commands on top"
    assert "endorm verify" in head and "<!-- test-command -->" in head and "## I want to" in head
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in head, f"the README's table does not link docs/{page.name}"
