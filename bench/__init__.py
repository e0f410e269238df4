"""bench: measures how ways of running database work in background tasks behave as the task rate grows."""

__version__ = "0.1.0"
