"""Talk to the running box over its local HTTP API (used by the CLI)."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from box.core.errors import BoxNotRunning
from box.keys import API_TOKEN, FileKeyProvider
from box.paths import BoxHome, setup_advice
from box.tls import client_context, default_paths

DEFAULT_LISTEN = "127.0.0.1:8080"


def _web(home: BoxHome) -> dict[str, Any]:
    """The ``[web]`` table, read leniently: a broken config must not hide status."""
    try:
        web = tomllib.loads(home.config_file.read_text(encoding="utf-8")).get("web", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return web if isinstance(web, dict) else {}


def base_url(home: BoxHome) -> str:
    """The first ``web.listen`` address, as a loopback URL where it is a wildcard."""
    web = _web(home)
    try:
        listen = web.get("listen", [DEFAULT_LISTEN])[0]
    except (AttributeError, IndexError, TypeError, KeyError):
        listen = DEFAULT_LISTEN
    host, _, port = str(listen).rpartition(":")
    host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    scheme = "https" if web.get("https") is True else "http"
    return f"{scheme}://{host}:{port}"


def tls_context(home: BoxHome) -> ssl.SSLContext | None:
    """Trust exactly the box's own certificate when it serves HTTPS."""
    web = _web(home)
    if web.get("https") is not True:
        return None
    cert = web.get("cert_file") or default_paths(home.keys_dir)[0]
    try:
        return client_context(Path(str(cert)))
    except (OSError, ssl.SSLError) as exc:
        raise BoxNotRunning(f"cannot use the box's certificate {cert}: {exc}") from None


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over the box's control socket (``BoxHome.control_socket``)."""

    def __init__(self, address: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.address = address

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.address)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class BoxClient:
    def __init__(self, home: BoxHome, timeout: float = 5.0) -> None:
        self.home = home
        self.url = base_url(home)
        self.timeout = timeout

    def _request(
        self, path: str, body: Any = None, token: str | None = None, method: str | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        answer = self._over_control_socket(path, data, token, method or ("POST" if data else "GET"))
        if answer is not None:
            return answer
        # The URL is always http://<configured loopback or LAN address>, never user-supplied.
        req = urllib.request.Request(  # noqa: S310
            self.url + path, data=data, method=method or ("POST" if data else "GET")
        )
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(  # noqa: S310 - loopback
                req, timeout=self.timeout, context=tls_context(self.home)
            ) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except (urllib.error.URLError, OSError) as exc:
            hint = "is it running? (systemctl status safetybox, or: safetybox run)"
            config = self.home.config_file
            if not config.exists():  # probably the wrong home rather than a stopped box
                hint = f"{config} does not exist: {setup_advice(config)}"
            raise BoxNotRunning(
                f"no box answers at {self.url} ({getattr(exc, 'reason', exc)}); {hint}"
            ) from None

    def _over_control_socket(
        self, path: str, data: bytes | None, token: str | None, method: str
    ) -> tuple[int, Any] | None:
        """The answer over the unix socket, or None when no box listens there (an older box,
        or its socket could not be made): then the web address is tried."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn = _UnixConnection(self.home.control_socket, self.timeout)
        try:
            try:
                conn.request(method, path, body=data, headers=headers)
            except (FileNotFoundError, ConnectionRefusedError, PermissionError):
                return None
            try:
                resp = conn.getresponse()
                return resp.status, json.loads(resp.read() or b"{}")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise BoxNotRunning(f"the box's control socket did not answer: {exc}") from None
        finally:
            conn.close()

    def status(self) -> dict[str, Any]:
        return self._request("/api/status")[1]

    def get(self, path: str) -> dict[str, Any]:
        return self._request(path)[1]

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """An authenticated write, with the token from the box's ``api.key`` file."""
        return self.call("POST", path, body)

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Any authenticated request (GET, POST, PUT, DELETE) with the API token."""
        token = FileKeyProvider(self.home.keys_dir).get(API_TOKEN).hex()
        return self._request(path, body, token=token, method=method)

    def reload(self, who: str) -> tuple[int, dict[str, Any]]:
        return self.post("/api/config/reload", {"who": who})
