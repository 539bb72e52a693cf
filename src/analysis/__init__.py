"""kommunebarometer: shared helpers for the municipal digitalisation barometer.

Modules follow the data flow: ``config`` -> ``register`` -> ``readers`` / ``linkage`` ->
``ingest`` -> ``processed`` -> ``derive`` -> ``weights`` -> ``load`` -> ``estimates`` / ``models``
-> ``results`` -> ``tables`` / ``plots`` -> ``render`` -> ``graph`` / ``steps`` (the recipes of
``build.mk``) -> ``publish`` -> ``build``. Analysts start at ``analysis.load``.
"""

__version__ = "0.1.0"
