"""Fixtures for the protocol tests: one live server per test module."""
import os
import sys

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from vdserver import VisitdavServer  # noqa: E402

USERS = {"alice": "alice-pw", "bob": "bob-pw"}


@pytest.fixture(scope="module")
def server():
    srv = VisitdavServer(users=USERS)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def alice(server):
    s = requests.Session()
    s.auth = ("alice", USERS["alice"])
    s.base = server.url
    return s


@pytest.fixture
def bob(server):
    s = requests.Session()
    s.auth = ("bob", USERS["bob"])
    s.base = server.url
    return s
