"""A second app with a file field, added as docs/uploads-and-failures.md tells a forker to add
one: installed by the tests that need it (tests/file_lifecycle/conftest.py)."""
