"""UWB positioning drivers: Qorvo/Decawave DWM1001 (UART shell and TLV API), Nooploop
LinkTrack (NLink frames), and a generic JSON source (MQTT or TCP). Each parser is a pure
function or a small stateful decoder, so it can be tested without hardware; the drivers turn
what they decode into :class:`box.core.records.Position` records in site coordinates."""
