"""The commented ``box.toml`` that ``safetybox init`` writes (plain or demo site)."""

from __future__ import annotations

HEADER = """\
# SafetyBox configuration.  Validate with:  safetybox config check
# Unknown keys are errors, so a typo never silently becomes a default.
config_version = 1

[box]
name = "{name}"
site = "{site}"

[store]
retention_days = 90          # readings older than this are removed
max_size_mb = 2048           # beyond this, oldest readings go first (a 'gap' event records it)
commit_interval_ms = 20      # group commit: at most this long between reading and commit
synchronous = "normal"       # "full" fsyncs every commit: safer on power loss, wears SD cards

[web]
listen = ["127.0.0.1:8080"]  # addresses the status page binds to; add the LAN address to expose it
"""

PLAIN_BODY = """
# Declare every channel once; drivers refer to channels by id.
# [[channels]]
# id = "tank1.lel"
# kind = "gas_lel"             # gas_lel gas_ppm gas_vol o2 temperature pressure humidity ...
# unit = "%LEL"
# name = "Tank 1 combustible gas"
# zone = "tank-farm"
# limit = {{ high = 25.0, deadband = 2.0 }}

# [[drivers]]
# type = "sim"                 # installed drivers: safetybox drivers list
# name = "sim1"
# interval_s = 1.0
# [[drivers.points]]
# channel = "tank1.lel"
# waveform = {{ shape = "sine", mean = 5.0, amplitude = 2.0, period_s = 60 }}
"""

DEMO_BODY = """
# Demo site: simulated detectors.  The tank-farm detector has a scripted leak every 5 minutes.
[[channels]]
id = "tank1.lel"
kind = "gas_lel"
unit = "%LEL"
name = "Tank 1 combustible gas"
zone = "tank-farm"
limit = {{ high = 25.0, deadband = 2.0 }}   # GB/T 50493 first-level alarm

[[channels]]
id = "tank1.h2s"
kind = "gas_ppm"
unit = "ppm"
name = "Tank 1 H2S"
zone = "tank-farm"
limit = {{ high = 7.2, deadband = 0.5 }}

[[channels]]
id = "pump2.o2"
kind = "o2"
unit = "%VOL"
name = "Pump house O2"
zone = "pump-house"
limit = {{ low = 19.5, high = 23.5, deadband = 0.2 }}

[[channels]]
id = "pump2.temp"
kind = "temperature"
unit = "°C"
name = "Pump 2 motor temperature"
zone = "pump-house"
limit = {{ high = 80.0, deadband = 2.0 }}

[[channels]]
id = "line3.pressure"
kind = "pressure"
unit = "MPa"
name = "Line 3 pressure"
zone = "pipe-rack"
limit = {{ high = 1.6, deadband = 0.05 }}

[[drivers]]
type = "sim"
name = "demo-detectors"
interval_s = 1.0

[[drivers.points]]
channel = "tank1.lel"
waveform = {{ shape = "step", before = 2.0, after = 38.0, at_s = 60, back_at_s = 150, \
period_s = 300 }}
noise = 0.3

[[drivers.points]]
channel = "tank1.h2s"
waveform = {{ shape = "sine", mean = 1.5, amplitude = 1.0, period_s = 240 }}
noise = 0.1

[[drivers.points]]
channel = "pump2.o2"
waveform = {{ shape = "constant", value = 20.9 }}
noise = 0.05

[[drivers.points]]
channel = "pump2.temp"
waveform = {{ shape = "ramp", start = 55.0, slope_per_s = 0.02, period_s = 1800 }}
noise = 0.2

[[drivers.points]]
channel = "line3.pressure"
waveform = {{ shape = "sine", mean = 1.2, amplitude = 0.1, period_s = 120 }}
dropout = {{ every_s = 600, for_s = 20, offset_s = 400 }}
"""


def render(demo: bool, name: str = "SafetyBox", site: str = "") -> str:
    body = DEMO_BODY if demo else PLAIN_BODY
    if demo:
        name, site = name if name != "SafetyBox" else "Demo SafetyBox", site or "Simulated site"
    return (HEADER + body).format(name=name, site=site)
