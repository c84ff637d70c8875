"""Signed offline updates: bundles of wheels signed with Ed25519, installed into a new versioned
environment, switched atomically and rolled back when the new version does not come up healthy.
"""
