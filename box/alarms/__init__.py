"""Alarms: rules turn readings into conditions; alarms own the lifecycle; outputs annunciate."""
