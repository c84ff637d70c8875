"""Physical buttons: acknowledge/silence and reset, via gpiozero Button."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gpiozero import Button

from box.alarms.config import Inputs


class Buttons:
    """Calls ``on_ack`` / ``on_reset`` (from gpiozero's thread; the callee must hand over)."""

    def __init__(
        self, cfg: Inputs, factory: Any, on_ack: Callable[[], None], on_reset: Callable[[], None]
    ) -> None:
        self.buttons: list[Button] = []
        for spec, action in ((cfg.ack_button, on_ack), (cfg.reset_button, on_reset)):
            if spec is None:
                continue
            b = Button(
                spec.pin,
                pull_up=spec.pull_up,
                bounce_time=spec.bounce_s or None,
                pin_factory=factory,
            )
            b.when_pressed = lambda _dev=None, _action=action: _action()
            self.buttons.append(b)

    def close(self) -> None:
        for b in self.buttons:
            b.close()
