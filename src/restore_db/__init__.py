"""restore-db: ecosystem-service supply/demand, resilience and restoration zoning in PostGIS."""

__version__ = "0.1.0"
