"""Simulators of the devices SafetyBox talks to, and of the upstream platform."""
