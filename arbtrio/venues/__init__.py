"""Venue clients (one package per venue) behind the interface in ``arbtrio.venues.base``."""
