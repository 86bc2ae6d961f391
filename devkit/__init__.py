"""The project's development library: chart rendering and strict validation, the one local run
(loopback Ray, deploy, wait, stop), scrape helpers and the tiny model. Product code never imports it;
`tools/` are thin command lines over it, `tests/`, `bench/` and `loadtest/` use it."""

from pathlib import Path

# The checkout this library is installed from (editable install: `make venv`).
REPO = Path(__file__).resolve().parent.parent
