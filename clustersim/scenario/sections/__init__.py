"""The scenario's sections, one module per top-level table of a scenario file.

``common`` holds what they share (the strict frozen ``Section`` base and its problem check, ``Name``,
``Probability``, ``Speed``, ``TimeToFailure``); ``simulation``, ``nodes``, ``repair``, ``spares``,
``domains``, ``chaos`` and ``training`` each own one section. ``clustersim.scenario.schema`` assembles
them into the top-level ``Scenario``; checks across sections live in ``clustersim.scenario.cross_checks``.

Adding a section (``[network]``, ``[storage]``, ``[[inference]]``; today they are in
``schema.PLANNED_SECTIONS`` and refused):

1. a new module here with its ``Section`` subclass: types, defaults and simple bounds declared on the
   fields (``Field(gt=...)``), its own cross-field checks in ``problems()`` (``key: problem`` lines, keys
   relative to the section), and any checks against other sections as functions decorated with
   ``clustersim.scenario.cross_checks.cross_check``, their parameters named after the sections they read;
2. one field on ``Scenario``, named after the key; ``PLANNED_SECTIONS`` then no longer refuses the key.
"""
