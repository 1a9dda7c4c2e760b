"""Fixtures for the real-client tests: one live server per test module."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from vdserver import VisitdavServer  # noqa: E402

USERS = {"alice": "alice-pw", "bob": "bob-pw"}


@pytest.fixture(scope="module")
def server():
    srv = VisitdavServer(users=USERS)
    srv.start()
    yield srv
    srv.stop()
