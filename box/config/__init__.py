"""The box's one validated config document: ``schema`` (models), ``loader`` (parse, errors).

Nothing is imported here, so ``box.alarms.config`` can build on ``box.config.base`` without
an import cycle.
"""
