import pytest

from tests.conftest import ARTIFACTS
from tests.reliability.stack import Stack


@pytest.fixture
def stack(tmp_path, request):
    """A Redis, beat and workers of its own for the test (tests/reliability/stack.py)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stack = Stack(tmp_path, log_prefix=request.module.__name__.rpartition(".")[2].removeprefix("test_"))
    try:
        yield stack
    finally:
        stack.stop()
