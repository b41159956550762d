"""Bring up what the workshop's tests need: a Docker engine, a local registry
mirror on 127.0.0.1:5000, and the public images the pages use (built offline
from Debian packages when Docker Hub cannot be reached)."""
