from __future__ import annotations

import pytest

from tests.reliability.report import RESULTS

pytestmark = pytest.mark.reliability


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/reliability" in str(item.fspath):
            item.add_marker(pytest.mark.reliability)


def pytest_terminal_summary(terminalreporter):
    if RESULTS:
        terminalreporter.section("reliability report")
        for result in RESULTS:
            terminalreporter.write_line(result.line())
