"""Fixtures shared by the test modules."""

import signal

import pytest


@pytest.fixture
def sigint_raises_keyboard_interrupt():
    """Python's own SIGINT handler (Ctrl+C raises ``KeyboardInterrupt``)
    for a test that interrupts fits with a real SIGINT: a shell that starts
    the suite in the background (``pytest &``) makes it ignore SIGINT, and
    the interrupts would go unseen."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
