"""Modbus RTU/TCP field devices: profiles (register maps as data), decoding, the bus driver."""
