"""Propscope server: a FastAPI app that runs training sessions and streams them over WebSockets."""

__version__ = "0.1.0"
PROTOCOL_VERSION = 2
