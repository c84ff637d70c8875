"""Talk to the running box over its local HTTP API (used by the CLI)."""

from __future__ import annotations

import json
import tomllib
import urllib.error
import urllib.request
from typing import Any

from box.errors import BoxNotRunning
from box.keys import API_TOKEN, FileKeyProvider
from box.paths import BoxHome

DEFAULT_LISTEN = "127.0.0.1:8080"


def base_url(home: BoxHome) -> str:
    """The first ``web.listen`` address, read leniently: a broken config must not hide status."""
    listen = DEFAULT_LISTEN
    try:
        data = tomllib.loads(home.config_file.read_text(encoding="utf-8"))
        listen = data.get("web", {}).get("listen", [DEFAULT_LISTEN])[0]
    except (OSError, tomllib.TOMLDecodeError, AttributeError, IndexError, TypeError):
        pass
    host, _, port = str(listen).rpartition(":")
    host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    return f"http://{host}:{port}"


class BoxClient:
    def __init__(self, home: BoxHome, timeout: float = 5.0) -> None:
        self.home = home
        self.url = base_url(home)
        self.timeout = timeout

    def _request(self, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        # The URL is always http://<configured loopback or LAN address>, never user-supplied.
        req = urllib.request.Request(  # noqa: S310
            self.url + path, data=data, method="POST" if data else "GET"
        )
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - loopback
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except (urllib.error.URLError, OSError) as exc:
            raise BoxNotRunning(
                f"no box answers at {self.url} ({getattr(exc, 'reason', exc)}); is it running? "
                "(systemctl status safetybox, or: safetybox run)"
            ) from None

    def status(self) -> dict[str, Any]:
        return self._request("/api/status")[1]

    def get(self, path: str) -> dict[str, Any]:
        return self._request(path)[1]

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """An authenticated write, with the token from the box's ``api.key`` file."""
        token = FileKeyProvider(self.home.keys_dir).get(API_TOKEN).hex()
        return self._request(path, body, token=token)

    def reload(self, who: str) -> tuple[int, dict[str, Any]]:
        return self.post("/api/config/reload", {"who": who})
