"""The bottom layer: records, the level scale, ports, the plugin registry and base config types.

It imports nothing else of the box (a test checks it), so every other package can build on it.
"""
