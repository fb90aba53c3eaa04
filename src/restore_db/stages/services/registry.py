"""The service modules by name, in pipeline order (:data:`restore_db.stages.services.NAMES`)."""

from __future__ import annotations

import importlib

from restore_db.stages.services import NAMES

SERVICES = {name: importlib.import_module(f"restore_db.stages.services.{name}") for name in NAMES}
