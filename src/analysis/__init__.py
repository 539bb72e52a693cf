"""kommunebarometer: shared helpers for the municipal digitalisation barometer.

Modules follow the data flow: ``config`` -> ``register`` -> ``demo`` (synthetic exports)
-> ``codebook`` -> ``ingest`` -> ``estimates`` / ``models`` -> ``report``.
"""

__version__ = "0.1.0"
