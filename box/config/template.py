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
listen = ["127.0.0.1:8080"]  # addresses the web page binds to; add the LAN address to expose it
# https = true                 # serve HTTPS with the certificate init made (keys/web.crt);
#                              # compare its SHA-256 (safetybox doctor) with what the browser shows
"""

PLAIN_BODY = """
# Declare every channel once; drivers refer to channels by id.
# [[channels]]
# id = "tank1.lel"
# kind = "gas_lel"             # gas_lel gas_ppm gas_vol o2 temperature pressure humidity ...
# unit = "%LEL"
# range = [0, 100]             # full scale: over-range alarm, deadband_pct
# name = "Tank 1 combustible gas"
# zone = "tank-farm"
# [channels.alarms]
# stale_after_s = 60           # no good reading this long: fault (at most 100 s on a
#                              # safety channel, GB 50166; bad quality faults at once)
# [channels.alarms.thresholds] # GB/T 50493: A1 <= 25 %LEL, A2 <= 50 %LEL
# levels = [
#   {{ name = "A1", at = 25, level = 2 }},
#   {{ name = "A2", at = 50, level = 1, latching = true }},
# ]
# deadband = 2.0

# [[drivers]]
# type = "sim"                 # installed drivers: safetybox drivers list
# name = "sim1"
# interval_s = 1.0
# [[drivers.points]]
# channel = "tank1.lel"
# waveform = {{ shape = "sine", mean = 5.0, amplitude = 2.0, period_s = 60 }}

[outputs]
pin_factory = "auto"           # real GPIO on a Raspberry Pi, mock pins elsewhere
# buzzer = {{ pin = 17 }}
# tower = {{ red = {{ pin = 22 }}, yellow = {{ pin = 23 }}, green = {{ pin = 24 }} }}
# fault_relay = {{ pin = 6, fail_safe = true }}
# [[outputs.relays]]
# name = "valve"
# pin = 5
# fail_safe = true             # energised while healthy: de-energises on alarm or if the box dies
# max_level = 1
"""

DEMO_BODY = """
# Demo site: simulated detectors on mock GPIO pins.
# tank1.lel has a scripted leak every 5 minutes: 38 %LEL (A1) from 60 s to 150 s.
# line3.pressure goes silent for 80 s every 10 minutes: an offline fault 60 s after its last
# reading (stale_after_s), cleared by the first reading after the silence.
[alarms]
silence_s = 60

[[channels]]
id = "tank1.lel"
kind = "gas_lel"
unit = "%LEL"
range = [0, 100]
name = "Tank 1 combustible gas"
zone = "tank-farm"
[channels.alarms.thresholds]   # GB/T 50493 first / second level
levels = [
  {{ name = "A1", at = 25, level = 2 }},
  {{ name = "A2", at = 50, level = 1, latching = true }},
]
deadband = 2.0

[[channels]]
id = "tank1.h2s"
kind = "gas_ppm"
unit = "ppm"
range = [0, 100]
name = "Tank 1 H2S"
zone = "tank-farm"
[channels.alarms.thresholds]
levels = [{{ name = "A1", at = 7.2, level = 2 }}, {{ name = "A2", at = 14.3, level = 1 }}]
deadband = 0.5
[channels.alarms.exposure]
stel = 10.0
twa = 7.2

[[channels]]
id = "pump2.o2"
kind = "o2"
unit = "%VOL"
range = [0, 25]
name = "Pump house O2"
zone = "pump-house"
[channels.alarms.thresholds]   # O2 deficiency (falling) and enrichment (rising)
levels = [
  {{ name = "LO", at = 19.5, level = 2, direction = "falling" }},
  {{ name = "LOLO", at = 18.0, level = 1, direction = "falling" }},
  {{ name = "HI", at = 23.5, level = 2 }},
]
deadband = 0.2

[[channels]]
id = "pump2.temp"
kind = "temperature"
unit = "°C"
range = [0, 150]
name = "Pump 2 motor temperature"
zone = "pump-house"
safety = false
[[channels.alarms.sustained]]  # the seeds: motor above 80 °C for 3 hours
name = "hot_3h"
above = 80.0
for_s = 10800
level = 3

[[channels]]
id = "line3.pressure"
kind = "pressure"
unit = "MPa"
range = [0, 2.5]
name = "Line 3 pressure"
zone = "pipe-rack"
[channels.alarms.thresholds]
levels = [{{ name = "H", at = 1.6, level = 2 }}]
deadband = 0.05

[outputs]
pin_factory = "mock"
buzzer = {{ pin = 17 }}
tower = {{ red = {{ pin = 22 }}, yellow = {{ pin = 23 }}, green = {{ pin = 24 }} }}
fault_relay = {{ pin = 6, fail_safe = true }}

[[outputs.relays]]
name = "tank-farm-valve"
pin = 5
fail_safe = true
max_level = 1
zones = ["tank-farm"]

[inputs]
ack_button = {{ pin = 20 }}
reset_button = {{ pin = 21 }}

# Field devices on simulated buses (scripts/demo starts the simulators):
# an RS-485 line with two gas probes, a temperature transmitter and a 4-20 mA input module,
# and a Modbus TCP transmitter.
[[channels]]
id = "shed.lel"
kind = "gas_lel"
unit = "%LEL"
range = [0, 100]
name = "Compressor shed gas"
zone = "compressor-shed"
[channels.alarms.thresholds]
levels = [{{ name = "A1", at = 25, level = 2 }}, {{ name = "A2", at = 50, level = 1 }}]
deadband = 2.0

[[channels]]
id = "shed.lel2"
kind = "gas_lel"
unit = "%LEL"
range = [0, 100]
name = "Compressor shed gas, second detector"
zone = "compressor-shed"
[channels.alarms.thresholds]
levels = [{{ name = "A1", at = 25, level = 2 }}, {{ name = "A2", at = 50, level = 1 }}]
deadband = 2.0

[[channels]]
id = "boiler.temp"
kind = "temperature"
unit = "°C"
name = "Boiler room temperature"
zone = "boiler"
safety = false

[[channels]]
id = "line1.pressure"
kind = "pressure"
unit = "MPa"
range = [0, 2.5]
name = "Line 1 pressure (4-20 mA)"
zone = "pipe-rack"
[channels.alarms.thresholds]
levels = [{{ name = "H", at = 1.6, level = 2 }}]

[[channels]]
id = "lab.h2s"
kind = "gas_ppm"
unit = "ppm"
name = "Lab H2S (Modbus TCP)"
zone = "lab"
[channels.alarms.thresholds]
levels = [{{ name = "A1", at = 7.2, level = 2 }}, {{ name = "A2", at = 14.3, level = 1 }}]

[[drivers]]
type = "modbus"
name = "rs485-1"
port = "{home}/ttyRS485"
baudrate = 9600
[[drivers.devices]]
unit = 1
profile = "generic-gas-probe"
channels = {{ concentration = "shed.lel" }}
[[drivers.devices]]
unit = 2
profile = "generic-gas-probe"
channels = {{ concentration = "shed.lel2" }}
[[drivers.devices]]
unit = 3
profile = "temperature-transmitter"
channels = {{ temperature = "boiler.temp" }}
[[drivers.devices]]
unit = 4
profile = "ai4-4-20ma"
channels = {{ ch1 = "line1.pressure" }}
ma_ranges = {{ ch1 = [0, 2.5] }}

[[drivers]]
type = "modbus"
name = "tcp-lab"
host = "127.0.0.1"
tcp_port = 15020
[[drivers.devices]]
unit = 1
profile = "midas-float"
interval_s = 0.5
channels = {{ concentration = "lab.h2s" }}

# People with UWB tags (scripts/demo runs 'safetybox sim uwb', which serves their positions as
# JSON over TCP, as an RTLS gateway would). Site coordinates in metres.
[[drivers]]
type = "uwb_json"
name = "rtls-gateway"
transport = "tcp"
host = "127.0.0.1"
port = 15030
fields = {{ tag = "tagId", battery = "battery", sos = "sos" }}

[[positioning]]
id = "site"
name = "Demo site"

[[positioning.zones]]
id = "reactor"
name = "Reactor hall (tank 1)"
type = "restricted"
polygon = [[0, 0], [20, 0], [20, 15], [0, 15]]
channels = ["tank1.h2s"]
max_people = 3

[[positioning.zones]]
id = "pit"
name = "Open pit"
type = "danger"
approach_m = 3
polygon = [[30, 0], [36, 0], [36, 6], [30, 6]]

[[positioning.zones]]
id = "gate"
name = "Muster point A"
type = "muster_point"
polygon = [[-20, -20], [-10, -20], [-10, -10], [-20, -10]]

[[positioning.people]]
tag = "t1"
name = "Li Wei"
role = "fitter"
zones = ["reactor"]

[[positioning.people]]
tag = "t2"
name = "Zhang San"
role = "operator"

[[positioning.people]]
tag = "t3"
name = "Wang Fang"
role = "safety"
zones = ["reactor", "pit"]

[[positioning.exposure]]
gas = "h2s"
channels = ["tank1.h2s"]
stel = 10
twa = 5

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
dropout = {{ every_s = 600, for_s = 80, offset_s = 400, mode = "silent" }}
"""


def render(demo: bool, name: str = "SafetyBox", site: str = "", home: str = ".") -> str:
    body = DEMO_BODY if demo else PLAIN_BODY
    if demo:
        name, site = name if name != "SafetyBox" else "Demo SafetyBox", site or "Simulated site"
    return (HEADER + body).format(name=name, site=site, home=home)
