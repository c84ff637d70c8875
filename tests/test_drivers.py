"""Driver registry (entry points, import failures) and the sim driver's waveforms."""

from __future__ import annotations

import threading
from importlib.metadata import EntryPoint

import pytest

from box.config.loader import parse_config
from box.core import plugins
from drivers import base
from drivers.base import DriverRegistry
from drivers.simulated import SimDriver, SimDriverConfig
from drivers.waveforms import Dropout, Ramp, Signal, Sine, Step


def test_builtin_sim_driver_is_found_through_entry_points() -> None:
    reg = DriverRegistry.from_entry_points()
    assert reg.drivers["sim"] is SimDriver
    assert reg.failed == {}


def test_a_driver_that_fails_to_import_is_reported_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [
        EntryPoint("sim", "drivers.simulated:SimDriver", base.ENTRY_POINT_GROUP),
        EntryPoint("broken", "no_such_module_xyz:Driver", base.ENTRY_POINT_GROUP),
        EntryPoint("notadriver", "json:dumps", base.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(plugins, "entry_points", lambda group: eps)
    reg = DriverRegistry.from_entry_points()
    assert reg.drivers["sim"] is SimDriver  # the built-ins load without any entry point
    assert not {"broken", "notadriver"} & set(reg.drivers)
    assert "ModuleNotFoundError" in reg.failed["broken"]
    assert "not a Driver subclass" in reg.failed["notadriver"]
    # A config using the broken type still validates (the daemon reports it), others run.
    cfg = parse_config(
        'config_version = 1\n[[channels]]\nid="a"\nkind="o2"\nunit="%"\n'
        '[[drivers]]\ntype="broken"\nname="b1"\nport="/dev/ttyUSB0"\n',
        registry=reg,
    )
    assert cfg.drivers[0].type == "broken"


@pytest.mark.parametrize(
    ("waveform", "t", "value"),
    [
        (Sine(shape="sine", mean=10, amplitude=2, period_s=4), 1.0, 12.0),
        (Sine(shape="sine", mean=10, amplitude=2, period_s=4), 3.0, 8.0),
        (Ramp(shape="ramp", start=1, slope_per_s=0.5), 4.0, 3.0),
        (Ramp(shape="ramp", start=1, slope_per_s=0.5, period_s=2), 3.0, 1.5),
        (Step(shape="step", before=0, after=5, at_s=2, back_at_s=4), 1.9, 0),
        (Step(shape="step", before=0, after=5, at_s=2, back_at_s=4), 2.0, 5),
        (Step(shape="step", before=0, after=5, at_s=2, back_at_s=4), 4.0, 0),
        (Step(shape="step", before=0, after=5, at_s=2, period_s=10), 12.5, 5),
    ],
)
def test_waveforms(waveform: object, t: float, value: float) -> None:
    assert Signal(waveform).value(t) == pytest.approx(value)


def test_dropout_window() -> None:
    d = Dropout(every_s=10, for_s=2, offset_s=5)
    assert [d.active(t) for t in (0, 4.9, 5, 6.9, 7, 15.5, 17.5)] == [
        False,
        False,
        True,
        True,
        False,
        True,
        False,
    ]


def test_sim_driver_emits_stamped_batches_and_bad_quality_during_dropout() -> None:
    """``mode = "bad_quality"``: what a bus driver reports for a unit that does not answer."""
    cfg = SimDriverConfig.model_validate(
        {
            "type": "sim",
            "name": "s",
            "interval_s": 0.01,
            "points": [
                {"channel": "a", "waveform": {"shape": "constant", "value": 3.0}},
                {
                    "channel": "b",
                    "waveform": {"shape": "constant", "value": 1.0},
                    "dropout": {"every_s": 100, "for_s": 100, "mode": "bad_quality"},
                },
            ],
        }
    )
    batches: list = []
    stop = threading.Event()
    driver = SimDriver(cfg, lambda b: (batches.append(b), len(batches) >= 5 and stop.set()))
    t = threading.Thread(target=driver.run, args=(stop,))
    t.start()
    t.join(5)
    assert not t.is_alive()
    assert len(batches) >= 5
    a, b = batches[0]
    assert (a.channel, a.value, a.quality.name) == ("a", 3.0, "GOOD")
    assert (b.channel, b.value, b.quality.name) == ("b", None, "BAD")
    stamps = [batch[0].ts_ms for batch in batches]
    assert stamps == sorted(stamps) and stamps[-1] > stamps[0]


def test_a_silent_dropout_emits_nothing_for_its_point() -> None:
    from drivers.simulated import SimPoint, sample

    quiet = SimPoint.model_validate(
        {
            "channel": "b",
            "waveform": {"shape": "constant", "value": 1.0},
            "dropout": {"every_s": 10, "for_s": 2},
        }
    )
    loud = SimPoint.model_validate({"channel": "a", "waveform": {"shape": "constant", "value": 3}})
    signals = [(loud, Signal(loud.waveform)), (quiet, Signal(quiet.waveform))]
    assert [r.channel for r in sample(signals, 1.0, 0)] == ["a"], "silent: no reading at all"
    assert [(r.channel, r.value) for r in sample(signals, 3.0, 0)] == [("a", 3.0), ("b", 1.0)]
    assert sample(signals[1:], 1.0, 0) == []


def test_crash_injection_raises() -> None:
    cfg = SimDriverConfig.model_validate(
        {
            "type": "sim",
            "name": "s",
            "interval_s": 0.01,
            "crash_after_s": 0.05,
            "points": [{"channel": "a", "waveform": {"shape": "constant", "value": 3.0}}],
        }
    )
    with pytest.raises(RuntimeError, match="simulated crash"):
        SimDriver(cfg, lambda b: None).run(threading.Event())
