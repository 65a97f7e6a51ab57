"""Helpers for testing against the simulator: serve an app from a thread on a free port, and a
callback receiver that answers a script. The pytest plugin (`mockserver.pytest_plugin`) uses
both; tests may too."""

from .receiver import Received, Receiver
from .server import serve_in_thread

__all__ = ["Received", "Receiver", "serve_in_thread"]
