"""Heavy drivers in a child process: a model that crashes, hangs or runs out of memory dies
alone, and the alarm thread in the parent keeps running.

``driver`` (parent) supervises one child started by ``process``; the child runs ``child.main``,
which hands a ``WorkerContext`` to the configured worker function. Records come back over a
pipe (``protocol``) and are checked (``records``) before they reach the sink; frames go the other
way through shared memory (``frames``).
"""
