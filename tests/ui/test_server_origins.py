"""Serving on another machine's reach needs the origins its users' browsers come from."""

from __future__ import annotations

import pytest

from rnnpanel.app.server import check_origins
from rnnpanel.errors import RnnpanelError


@pytest.mark.parametrize("address", [None, "127.0.0.1", "localhost", "::1"])
def test_a_local_address_needs_no_allowed_origin(address):
    check_origins(address, 5006, None)


def test_a_non_local_address_without_allowed_origins_is_refused_with_the_remedy():
    with pytest.raises(RnnpanelError, match=r"--allow-websocket-origin HOST:5006"):
        check_origins("0.0.0.0", 5006, None)
    check_origins("0.0.0.0", 5006, ["lab-server:5006"])
