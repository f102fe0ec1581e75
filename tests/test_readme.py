import re

import pytest

from tests.helpers import BASE_DIR

README = (BASE_DIR / "README.md").read_text()
# Links such as [`DATABASES`](myapp/settings.py#L101-L109): the name must be in those lines.
LINE_LINKS = re.findall(r"\[`([^`]+)`\]\(([^)#]+)#L(\d+)-L(\d+)\)", README)


def test_readme_links_lines():
    assert len(LINE_LINKS) >= 10


@pytest.mark.parametrize(("name", "path", "first", "last"), LINE_LINKS)
def test_readme_line_links_point_at_what_they_name(name, path, first, last):
    lines = (BASE_DIR / path).read_text().splitlines()[int(first) - 1 : int(last)]

    assert name in "\n".join(lines), f"README: {path} lines {first}-{last} no longer hold {name}"


PAGES = [BASE_DIR / "README.md", *sorted((BASE_DIR / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_links_to_files_of_the_project_find_them(page):
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    local = [target for target in targets if "://" not in target and not target.startswith("<")]
    missing = [target for target in local if not (page.parent / target).exists()]

    assert local
    assert not missing, f"{page.name} links to files that are not there: {missing}"
