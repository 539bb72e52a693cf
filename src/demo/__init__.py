"""The synthetic demonstration survey (not part of the analysis package).

``python -m demo`` (``make demo-data``) regenerates ``data/raw`` and ``data/demo_truth``.
``demo.questionnaire`` is the vendor's side (what the exports look like); ``demo.generate``
is the documented data-generating process (``docs/demo_dgp.md``).
"""
