from datetime import timedelta

import pytest

from tests.alarms.helpers import T0
from tests.factories import build_site


@pytest.fixture
def site(db):
    """One cabinet with 4 docks, installed a day before T0; ``site.cases`` lists the 4 cases."""
    site = build_site(docks=4, at=T0 - timedelta(days=1))
    site.cases = [site.test_cases[(1, dock)] for dock in range(1, 5)]
    return site
