"""Nooploop LinkTrack over serial (921600 8N1 by default): TagFrame0 stream."""

from __future__ import annotations

import threading
from typing import Any, Literal

from pydantic import ConfigDict, Field

from drivers.uwb.base import UwbConfig, UwbDriver
from drivers.uwb.dwm1001 import open_port
from drivers.uwb.linktrack import NLinkDecoder
from drivers.uwb.zh import zh_names


class LinkTrackConfig(UwbConfig):
    model_config = ConfigDict(extra="forbid", validate_default=True, json_schema_extra=zh_names)

    type: Literal["uwb_linktrack"] = "uwb_linktrack"
    port: str
    baudrate: int = Field(default=921600, ge=1200, le=4_000_000)
    id_prefix: str = Field(default="lt", max_length=16, description="tag id = prefix + node id")


class LinkTrackDriver(UwbDriver):
    type_key = "uwb_linktrack"
    config_model = LinkTrackConfig
    config: LinkTrackConfig

    def __init__(self, config: Any, sink: Any) -> None:
        super().__init__(config, sink)
        self.decoder = NLinkDecoder()
        self.port: Any = None

    def start(self) -> None:
        self.port = open_port(self.config.port, self.config.baudrate)

    def stop(self) -> None:
        if self.port is not None:
            self.port.close()
            self.port = None

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            data = self.port.read(4096)
            if data:
                frames = self.decoder.feed(data)
                self.emit([f.fix(self.config.id_prefix) for f in frames])

    def diagnostics(self) -> dict[str, Any]:
        s = self.decoder.stats
        return {
            **super().diagnostics(),
            "tag_frames": s.tag_frames,
            "node_frames": s.node_frames,
            "bad_checksum": s.bad_checksum,
            "junk_bytes": s.junk_bytes,
        }
