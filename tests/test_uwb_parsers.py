"""The UWB parsers on valid, truncated, interleaved and random input (property-based)."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.uwb import linktrack, tlv
from drivers.uwb.mapping import FieldMap, parse_message
from drivers.uwb.shell import ShellDecoder, parse_line
from drivers.uwb.transform import Transform

coord = st.floats(-500, 500, allow_nan=False).map(lambda v: round(v, 2))
qf = st.integers(0, 100)


def lep(x: float, y: float, z: float, q: int) -> str:
    return f"POS,{x:.2f},{y:.2f},{z:.2f},{q}"


def lec(x: float, y: float, z: float, q: int, anchors: int = 4) -> str:
    parts = [f"DIST,{anchors}"]
    for i in range(anchors):
        parts.append(f"AN{i},{0x1000 + i:04X},{i:.2f},{2 * i:.2f},0.00,{3.5 + i:.2f}")
    return ",".join(parts) + "," + lep(x, y, z, q)


def les(x: float, y: float, z: float, q: int) -> str:
    anchors = "022E[7.94,8.03,0.00]=3.38 9280[7.95,0.00,0.00]=5.49"
    return f"{anchors} le_us=3082 est[{x:.2f},{y:.2f},{z:.2f},{q}]"


FORMATS = (lep, lec, les)


def test_the_documented_sample_lines() -> None:
    assert parse_line("POS,7.10,5.24,-2.03,53", "t").x == 7.10  # type: ignore[union-attr]
    line = (
        "DIST,4,AN0,022E,7.94,8.03,0.00,3.44,AN1,9280,7.95,0.00,0.00,5.68,AN2,DCAE,0.00,8.03,"
        "0.00,7.76,AN3,5431,0.00,0.00,0.00,8.73,POS,6.95,5.37,-1.97,52"
    )
    fix = parse_line(line, "t")
    assert fix is not None and (fix.x, fix.y, fix.z, fix.quality) == (6.95, 5.37, -1.97, 52)
    assert parse_line("DIST,1,AN0,022E,7.94,8.03,0.00,3.44", "t") is None  # no fix
    fix = parse_line("022E[7.94,8.03,0.00]=3.38 le_us=3082 est[6.97,5.17,-1.77,53]", "t")
    assert fix is not None and fix.y == 5.17


@pytest.mark.parametrize(
    "line",
    [
        "AN3,15BA,0.00,0,AN3,15BA,0.00,0.00",  # the documented interleaving
        "DIST,4,AN0,022E,7.94,8.03,0.00,3.44,POS,1,2,3,50",  # announces 4 anchors, has 1
        "POS,7.10,5.24,-2.03",  # truncated
        "POS,7.10,5.24,-2.03,153",  # quality above 100
        "POS,7.10,5.2POS,1.00,2.00,3.00,50",  # two lines run into each other
    ],
)
def test_garbled_lines_are_refused(line: str) -> None:
    with pytest.raises(ValueError, match="lep/lec/les|anchors|quality"):
        parse_line(line, "t")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(FORMATS), coord, coord, coord, qf), max_size=30),
    st.randoms(use_true_random=False),
)
def test_valid_streams_split_anywhere_give_every_fix(lines: list, rnd: random.Random) -> None:
    text = "".join(f(x, y, z, q) + "\r\n" for f, x, y, z, q in lines).encode()
    d = ShellDecoder("t")
    got = []
    i = 0
    while i < len(text):  # the UART hands over arbitrary chunks
        n = rnd.randint(1, 64)
        got += d.feed(text[i : i + n])
        i += n
    assert [(f.x, f.y, f.z, f.quality) for f in got] == [(x, y, z, q) for _, x, y, z, q in lines]
    assert d.stats.dropped == 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(FORMATS), coord, coord, coord, qf), min_size=2, max_size=20),
    st.data(),
)
def test_truncated_and_interleaved_lines_are_dropped_and_counted(lines: list, data) -> None:
    """Cut some lines short or splice two together: no fix comes from a damaged line, every
    intact line still gives its fix."""
    out, intact = [], []
    for f, x, y, z, q in lines:
        line = f(x, y, z, q)
        damage = data.draw(st.sampled_from(["none", "truncate", "splice"]))
        if damage == "truncate":
            cut = data.draw(st.integers(1, len(line) - 1))
            line = line[:cut]
        elif damage == "splice":
            line = line[: len(line) // 2] + lep(1.0, 2.0, 3.0, 50)[3:]
        out.append(line)
        if damage == "none":
            intact.append((x, y, z, q))
    d = ShellDecoder("t")
    fixes = d.feed(("\n".join(out) + "\n").encode())
    got = [(f.x, f.y, f.z, f.quality) for f in fixes]
    # A truncation can leave a shorter valid-looking line only by cutting digits off the end:
    # the strict pattern demands the quality field, so a cut line is never a fix except when
    # the cut falls inside the last number (then it is a well-formed line with another qf).
    for fix in got:
        assert fix in intact or fix[3] < 100
    assert len(got) + d.stats.dropped + d.stats.no_fix >= len(intact)
    assert set(intact) <= set(got)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(data: bytes) -> None:
    d = ShellDecoder("t")
    for f in d.feed(data):
        assert 0 <= (f.quality or 0) <= 100
    nd = linktrack.NLinkDecoder()
    nd.feed(data)
    try:
        tlv.parse_loc(data)
    except tlv.TlvError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 255), coord, coord, coord), max_size=10),
    st.lists(st.binary(max_size=40), max_size=10),
)
def test_linktrack_frames_are_found_among_junk(frames: list, junk: list) -> None:
    stream = b""
    for k, (i, x, y, z) in enumerate(frames):
        stream += (junk[k] if k < len(junk) else b"") + linktrack.encode_tag_frame0(i, (x, y, z))
    d = linktrack.NLinkDecoder()
    got = d.feed(stream)
    # Junk may itself contain 0x55 0x01 and swallow a following frame's start: never invent,
    # and without junk, find all.
    for f in got:
        assert any(f.id == i and f.pos == (x, y, z) for i, x, y, z in frames)
    if not junk:
        assert [(f.id, f.pos) for f in got] == [(i, (x, y, z)) for i, x, y, z in frames]


def test_linktrack_checksum_and_node_frames() -> None:
    frame = bytearray(linktrack.encode_tag_frame0(7, (1.5, -2.25, 0.5), voltage=3.7))
    parsed = linktrack.parse_tag_frame0(frame)
    assert parsed.pos == (1.5, -2.25, 0.5) and parsed.voltage == 3.7
    frame[10] ^= 0xFF
    with pytest.raises(ValueError, match="checksum"):
        linktrack.parse_tag_frame0(frame)
    d = linktrack.NLinkDecoder()
    node = linktrack.encode_node_frame(0x02, b"\x00" * 40)
    good = linktrack.encode_tag_frame0(3, (1, 2, 3))
    got = d.feed(bytes(frame) + node + good)
    assert [f.id for f in got] == [3]
    assert d.stats.node_frames == 1 and d.stats.bad_checksum >= 1


@settings(max_examples=200, deadline=None)
@given(
    coord,
    coord,
    coord,
    qf,
    st.lists(
        st.tuples(st.integers(0, 0xFFFF), st.floats(0, 100).map(lambda v: round(v, 3)), qf),
        max_size=6,
    ),
)
def test_tlv_loc_round_trip(x: float, y: float, z: float, q: int, ranges: list) -> None:
    data = tlv.encode_loc((x, y, z, q), [tlv.Range(a, d, rq) for a, d, rq in ranges])
    loc = tlv.parse_loc(data)
    assert loc.position == (x, y, z, q)
    assert [(r.address, r.distance_m, r.quality) for r in loc.ranges] == ranges
    boundaries = {3, 18}  # after the status and the position TLVs: a shorter valid response
    for cut in range(len(data)):
        if cut in boundaries:
            continue
        with pytest.raises(tlv.TlvError):
            tlv.parse_loc(data[:cut])


def test_tlv_errors_name_the_module_status() -> None:
    with pytest.raises(tlv.TlvError, match="busy"):
        tlv.parse_pos(bytes([0x40, 0x01, 0x04]))
    assert tlv.parse_pos(bytes([0x40, 1, 0]) + tlv.encode_pos(1.234, 2, -3, 99)) == (
        1.234,
        2.0,
        -3.0,
        99,
    )
    assert tlv.upd_rate_set(100, 500) == bytes([0x03, 0x04, 1, 0, 5, 0])
    with pytest.raises(ValueError, match="active <= stationary"):
        tlv.upd_rate_set(500, 100)


def test_json_mapping_from_the_dwm_gateway_and_pozyx() -> None:
    gw = FieldMap(tag="", tag_from_topic=2)
    payload = json.dumps({"position": {"x": 1.5, "y": 2, "z": 0, "quality": 80}})
    (fix,) = parse_message(payload, gw, "dwm/node/0a1b/uplink/location")
    assert (fix.tag, fix.x, fix.quality) == ("0a1b", 1.5, 80)
    pozyx = FieldMap(
        tag="tagId",
        x="data.coordinates.x",
        y="data.coordinates.y",
        z="data.coordinates.z",
        quality="",
        ts="timestamp",
        scale=1000,
    )
    msg = [
        {
            "tagId": "30331",
            "timestamp": 1615984968.807,
            "data": {"coordinates": {"x": 1500, "y": 250, "z": 0}},
        }
    ]
    (fix,) = parse_message(json.dumps(msg), pozyx)
    assert (fix.tag, fix.x, fix.y, fix.ts_ms) == ("30331", 1.5, 0.25, 1615984968807)
    with pytest.raises(ValueError, match="'position.x' is missing"):
        parse_message('{"position": {"y": 1}}', gw, "dwm/node/1/uplink/location")
    with pytest.raises(ValueError, match="not a number"):
        parse_message('{"position": {"x": "a", "y": 1, "z": 0, "quality": 1}}', gw, "a/b/c")
    with pytest.raises(ValueError, match="not JSON"):
        parse_message(b"\xff{", gw, "a/b/c")


@given(coord, coord, coord, st.floats(-360, 360), st.floats(0.01, 100), coord, coord)
def test_transform_inverse_round_trip(x, y, z, rot, scale, ox, oy) -> None:
    t = Transform(offset=(ox, oy, 1.0), rotation_deg=rot, scale=scale)
    back = t.inverse(*t.apply(x, y, z))
    assert back == pytest.approx((x, y, z), abs=1e-6)


def test_transform_rotation_direction() -> None:
    t = Transform(offset=(10, 0, 0), rotation_deg=90)
    assert t.apply(1, 0, 0) == pytest.approx((10, 1, 0))
