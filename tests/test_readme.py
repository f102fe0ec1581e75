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
