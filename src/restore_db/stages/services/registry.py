"""The services restore-db computes, in pipeline order."""

from __future__ import annotations

from restore_db.stages.services import carbon, food, recreation, soil, water

SERVICES = {"food": food, "carbon": carbon, "water": water, "soil": soil, "recreation": recreation}
