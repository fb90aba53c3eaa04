"""The services restore-db computes, in pipeline order."""

from __future__ import annotations

from . import carbon, water

SERVICES = {"carbon": carbon, "water": water}
