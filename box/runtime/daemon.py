"""The daemon: starts drivers, the rule pipeline, the store writer and the web server in order,
keeps them alive, reloads config on request, and stops them in reverse order.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from box import __version__
from box.alarms.buttons import Buttons
from box.alarms.engine import AlarmEngine
from box.alarms.kinds import RuleKinds, default_rule_kinds
from box.alarms.output_kinds import OutputKinds, default_output_kinds
from box.alarms.outputs import OutputController
from box.alarms.plugin_outputs import Annunciators, PluginOutputs
from box.atomic import write_atomic
from box.config.changes import archive, changed_paths, digest
from box.config.loader import ConfigInvalid, context_for, parse_config
from box.config.schema import BoxConfigBase
from box.config.secrets import unmask_text
from box.core.errors import ConfigError
from box.core.levels import Level
from box.core.record_types import RecordTypes
from box.core.records import Event, now_ms
from box.keys import API_TOKEN, STORE_KEY, FileKeyProvider, KeyProvider
from box.paths import BoxHome
from box.runtime import status
from box.runtime.facade import BoxFacade
from box.runtime.logs import CoreLog
from box.runtime.pipeline import Pipeline
from box.runtime.sdnotify import Notifier
from box.runtime.supervisor import DriverSupervisor
from box.store.writer import StoreWriter
from box.wipe import refuse_if_wiped
from drivers.base import DriverRegistry, default_registry

if TYPE_CHECKING:
    from box.sync.service import SyncService
    from box.web.accounts import Accounts
    from box.web.server import WebServer

log = logging.getLogger(__name__)

CLI_LOCK_WAIT_S = 30.0  # a 'safetybox users ...' holding the store finishes in about a second
STATE_CONFIG_TEXT = "config.text"  # the config last applied, to diff against after a restart


class Daemon:
    def __init__(
        self,
        home: BoxHome,
        keys: KeyProvider | None = None,
        registry: DriverRegistry | None = None,
        rule_kinds: RuleKinds | None = None,
        output_kinds: OutputKinds | None = None,
    ) -> None:
        self.home = home
        self.keys = keys or FileKeyProvider(home.keys_dir)
        self.registry = registry or default_registry()
        self.record_types = RecordTypes.load()
        self.rule_kinds = rule_kinds or default_rule_kinds()
        self.output_kinds = output_kinds or default_output_kinds()
        self.notifier = Notifier()
        self.started_monotonic = time.monotonic()
        self.started_ms = now_ms()
        self.config: BoxConfigBase
        self.config_text = ""
        self.config_loaded_ms = 0
        self.box_id = ""
        self.api_token = ""
        self.supervisors: list[DriverSupervisor] = []
        self.web: WebServer | None = None
        self.control: WebServer | None = None  # the CLI's unix socket
        self.web_reader: sqlite3.Connection | None = None
        self.accounts: Accounts | None = None
        self.sync: SyncService | None = None
        self.web_error = ""
        self.https = False
        self.api = BoxFacade(self)  # what the web app, the downlink and the CLI's API see
        # Set by start(); typed here so every part of the running box is declared in one place.
        self.writer: StoreWriter
        self.pipeline: Pipeline
        self.engine: AlarmEngine
        self.outputs: OutputController
        self.plugin_outputs: PluginOutputs
        self.buttons: Buttons
        self._opened: list[str] = []  # what start() got to, so a failed start closes just that
        self.core_log = CoreLog()  # alarm transition lines leave the core thread by a queue
        self._reload_lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._reload_requested = threading.Event()
        self._wake = threading.Event()  # signals wake the main loop at once, not at its next tick

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start everything in order; if a step fails, close what the earlier ones opened."""
        refuse_if_wiped(self.home)  # no new keys over a shredded store, however it was restarted
        try:
            self._start()
        except BaseException:
            log.error(
                "start-up failed after %s; closing them", ", ".join(self._opened) or "nothing"
            )
            self.stop()
            raise

    def _start(self) -> None:
        self.core_log.start()
        self.box_id = self.home.read_box_id()
        store_key = self.keys.get(STORE_KEY)
        self.api_token = self.keys.get(API_TOKEN).hex()
        config, text, fallback_reason = self._initial_config()
        self.config, self.config_text, self.config_loaded_ms = config, text, now_ms()
        # Waits a moment for a CLI command that holds the store; refuses a second daemon.
        self.writer = StoreWriter(
            self.home.database_file,
            store_key,
            config.store,
            on_health=self._store_health,
            wait_s=CLI_LOCK_WAIT_S,
        )
        self._opened.append("store")
        previous_text = self.writer.read_state(STATE_CONFIG_TEXT).get(STATE_CONFIG_TEXT)
        saved = self.writer.read_state("alarm.", "sustained.", "threshold.")
        self.writer.start()
        self.writer.submit_event(
            Event(
                "daemon_started",
                "daemon",
                now_ms(),
                Level.INFO,
                {"version": __version__, "pid": os.getpid()},
            )
        )
        if fallback_reason:
            self._event(
                "config_rejected",
                Level.LEVEL_3,
                who="startup",
                errors=fallback_reason,
                action="running the last good config from history",
            )
        if previous_text != text:
            self._record_applied(
                self._parse_quietly(previous_text),
                config,
                text,
                who="startup (file changed while stopped)",
            )
        self._start_alarms(config, saved)
        self._opened.append("outputs")
        self.pipeline = Pipeline(
            self.engine, self.writer, config.store.queue_max_batches, self.record_types
        )
        self._start_buttons(config)
        self._opened.append("buttons")
        self.pipeline.start()
        self._opened.append("pipeline")
        self._start_drivers(config)
        self._start_sync(config)
        self._start_web(config)
        line = status.status_line(self)
        self.notifier.ready(line)
        log.info("box %s running: %s", self.box_id, line)

    def stop(self) -> None:
        """Ordered shutdown: web, sync, drivers, pipeline (drained), outputs, then the store is
        flushed. Also closes a start-up that failed part-way: only what was opened."""
        self.notifier.stopping()
        if self.sync is not None:
            self.sync.closing = True  # commands from now on are refused with a reply
        if self.web is not None:
            self.web.stop()
        if self.control is not None:
            self.control.stop()
        if self.web_reader is not None:
            self.web_reader.close()
            self.web_reader = None
        for sup in self.supervisors:
            sup.stop()
        opened = set(self._opened)
        if "pipeline" in opened:
            self.pipeline.stop()
        if "buttons" in opened:
            self.buttons.close()
        if "outputs" in opened:
            self.outputs.close()  # releases the pins: fail-safe outputs de-energise
            self.plugin_outputs.close()
        if "store" not in opened:
            self._stop_sync()
            self.core_log.stop()
            return
        self.writer.submit_event(Event("daemon_stopped", "daemon", now_ms(), Level.INFO, {}))
        if self.sync is not None:
            # Sync stops last but for the store: what was committed up to here (the last
            # readings, daemon_stopped) goes up first, within a bounded time (issue 11, item 6).
            self.writer.flush(timeout=5)
            self._stop_sync()
        self.writer.stop()
        self._opened.clear()
        self.core_log.stop()
        st = self.writer.stats
        processed = self.pipeline.processed_readings if "pipeline" in opened else 0
        dropped = self.pipeline.dropped_readings if "pipeline" in opened else 0
        log.info(
            "box stopped; store flushed: processed=%d committed=%d dropped=%d lost_events=%d",
            processed,
            st.committed_readings,
            st.uncommitted_readings + dropped,
            st.lost_events,
        )

    def request_stop(self) -> None:
        """Stop as SIGTERM would: ``run_forever`` stops everything in order."""
        self._stop_requested.set()
        self._wake.set()

    def run_forever(self) -> None:
        """Run until SIGTERM/SIGINT; SIGHUP reloads the config. Feeds the systemd watchdog."""

        def on_signal(flag: threading.Event) -> Callable[[int, FrameType | None], None]:
            def handler(signum: int, frame: FrameType | None) -> None:
                flag.set()
                self._wake.set()

            return handler

        signal.signal(signal.SIGTERM, on_signal(self._stop_requested))
        signal.signal(signal.SIGINT, on_signal(self._stop_requested))
        signal.signal(signal.SIGHUP, on_signal(self._reload_requested))
        self.start()
        write_atomic(self.home.pid_file, f"{os.getpid()}\n")
        interval = min(self.notifier.watchdog_interval_s or 5.0, 5.0)
        try:
            while not self._stop_requested.is_set():
                self._wake.wait(interval)
                self._wake.clear()
                if not self._stop_requested.is_set():
                    self.tick()
        finally:
            self.stop()
            self.home.pid_file.unlink(missing_ok=True)

    def tick(self) -> bool:
        """One turn of the main loop: pending reload, then feed the watchdog if healthy.

        Returns whether the watchdog was fed. A stuck or dead worker starves the watchdog, so
        systemd restarts the box.
        """
        if self._reload_requested.is_set():
            self._reload_requested.clear()
            self.reload(who="signal:SIGHUP")
        problems = status.health_problems(self)
        if problems:
            log.error("not feeding the watchdog: %s", "; ".join(problems))
            self.notifier.status("unhealthy: " + "; ".join(problems))
            return False
        self.notifier.watchdog()
        self.notifier.status(status.status_line(self))
        return True

    # -- config -----------------------------------------------------------------------------------

    @property
    def _validation(self) -> tuple[DriverRegistry, RuleKinds, OutputKinds, dict[str, Any]]:
        """What every config of this box is validated with: its drivers, rule and output kinds
        and files (its own Modbus profiles, read afresh each time, so a reload sees a new one)."""
        return self.registry, self.rule_kinds, self.output_kinds, context_for(self.home.config_file)

    def _initial_config(self) -> tuple[BoxConfigBase, str, str]:
        """The config file, or if it is invalid the newest valid one in history: alarms must run."""
        path = self.home.config_file
        try:
            text = path.read_text(encoding="utf-8")
            return parse_config(text, str(path), *self._validation), text, ""
        except (ConfigError, OSError, UnicodeDecodeError) as exc:
            reason = str(exc)
        for old in sorted(self.home.config_history_dir.glob("box-*.toml"), reverse=True):
            try:
                # History keeps secrets masked: they come back from the current file if they can.
                text = _with_current_secrets(old.read_text(encoding="utf-8"), path)
                config = parse_config(text, str(old), *self._validation)
            except (ConfigError, OSError, UnicodeDecodeError):
                continue
            log.error("%s\nfalling back to the last good config %s", reason, old)
            return config, text, reason
        raise ConfigError(reason)

    def reload(self, who: str) -> dict[str, Any]:
        """Validate and apply box.toml; on failure keep the running config and store why."""
        with self._reload_lock:
            path = self.home.config_file
            try:
                text = path.read_text(encoding="utf-8")
                new = parse_config(text, str(path), *self._validation)
            except (ConfigError, OSError, UnicodeDecodeError) as exc:
                if isinstance(exc, ConfigInvalid):
                    errors = [issue.render(str(path)) for issue in exc.issues]
                else:
                    errors = [str(exc)]
                self._event("config_rejected", Level.LEVEL_3, who=who, errors=errors)
                log.error("config rejected (%s), keeping the running config:\n%s", who, exc)
                return {"accepted": False, "errors": errors, "changed": []}
            old = self.config
            changed = changed_paths(old, new)
            if not changed:
                return {"accepted": True, "errors": [], "changed": []}
            self._record_applied(old, new, text, who)
            self.config, self.config_text, self.config_loaded_ms = new, text, now_ms()
            self.pipeline.call(lambda: self._reconfigure_alarms(old, new))
            self.writer.reconfigure(new.store)
            if old.drivers != new.drivers or old.channels != new.channels:
                for sup in self.supervisors:
                    sup.stop()
                self._start_drivers(new)
            if old.sync != new.sync or old.channels != new.channels:
                self._stop_sync()
                self._start_sync(new)
            if old.web.listen != new.web.listen:
                log.warning("web.listen changed: takes effect at the next restart")
            log.info("config applied (%s): %s", who, ", ".join(changed[:20]))
            return {"accepted": True, "errors": [], "changed": changed}

    # -- alarms ------------------------------------------------------------------------------

    def _start_alarms(
        self, config: BoxConfigBase, saved: dict[str, str], factory: Any = None
    ) -> None:
        self.outputs = OutputController(config.outputs, factory, self._output_fault)
        self.plugin_outputs = PluginOutputs(
            self.output_kinds, config.outputs.plugins, self._output_fault, self._output_unavailable
        )
        self.engine = AlarmEngine(
            config,
            self.writer.submit_event,
            saved_state=saved,
            persist=self.writer.set_state,
            outputs=Annunciators(self.outputs, self.plugin_outputs),
            kinds=self.rule_kinds,
        )
        for name, reason in self.rule_kinds.failed.items():
            self._event("rule_kind_unavailable", Level.LEVEL_3, rule_kind=name, error=reason)

    def _start_buttons(self, config: BoxConfigBase) -> None:
        engine, post = self.engine, self.pipeline.post

        def ack() -> None:
            engine.silence("button")
            engine.ack_all("button")

        self.buttons = Buttons(
            config.inputs,
            self.outputs.factory,
            on_ack=lambda: post(ack),
            on_reset=lambda: post(lambda: engine.reset_all("button")),
        )

    def _reconfigure_alarms(self, old: BoxConfigBase, new: BoxConfigBase) -> None:
        """Runs on the pipeline thread. Outputs and buttons are rebuilt only if they changed."""
        if old.outputs.gpio() != new.outputs.gpio() or old.inputs != new.inputs:
            self.buttons.close()
            self.outputs.close()
            same = old.outputs.pin_factory == new.outputs.pin_factory
            self.outputs = OutputController(
                new.outputs, self.outputs.factory if same else None, self._output_fault
            )
            self.engine.outputs = Annunciators(self.outputs, self.plugin_outputs)
            self.engine.annunciation = None  # drive the new outputs on the next refresh
            self._start_buttons(new)
        if old.outputs.plugins != new.outputs.plugins:
            self.plugin_outputs.reconfigure(new.outputs.plugins)  # only the changed ones
        self.engine.reconfigure(new)

    def _store_health(self, error: str) -> None:
        """On the writer thread: commits fail ("" when they succeed again). A fault alarm, so
        the yellow lamp and the page say the record is not being kept."""
        if "pipeline" not in self._opened:
            return  # start-up; health_problems() reports it once the box runs
        self.pipeline.post(
            lambda: self.engine.external(
                "store",
                bool(error),
                level=3,
                name="store cannot commit",
                latching=False,
                source="store",
                kind="fault",
                error=error,
            )
        )

    def _output_fault(self, name: str, message: str) -> None:
        self._event("fault", Level.LEVEL_3, source=f"output:{name}", error=message)

    def _output_unavailable(self, name: str, kind: str, reason: str) -> None:
        self._event("output_unavailable", Level.LEVEL_3, output=name, type=kind, error=reason)

    def _record_applied(
        self, old: BoxConfigBase | None, new: BoxConfigBase, text: str, who: str
    ) -> None:
        archive(self.home.config_history_dir, text)
        changed = changed_paths(old, new)[:200] if old is not None else ["(initial config)"]
        self._event("config_applied", Level.INFO, who=who, sha256=digest(text), changed=changed)
        self.writer.set_state(STATE_CONFIG_TEXT, text)

    def _parse_quietly(self, text: str | None) -> BoxConfigBase | None:
        if text is None:
            return None
        try:
            return parse_config(text, "previous config", *self._validation)
        except ConfigError:
            return None

    # -- workers ---------------------------------------------------------------------------------

    def _start_drivers(self, config: BoxConfigBase) -> None:
        self.supervisors = []
        for drv in config.drivers:
            if not drv.enabled:
                continue
            cls = self.registry.drivers.get(drv.type)
            if cls is None:
                reason = self.registry.failed.get(drv.type, "not installed")
                self._event(
                    "driver_unavailable",
                    Level.LEVEL_3,
                    driver=drv.name,
                    type=drv.type,
                    error=reason,
                )
                continue
            try:
                driver = cls(drv, self.pipeline.submit)
            except Exception as exc:  # noqa: BLE001 - a plug-in's bug must not stop the box
                log.exception("driver %s cannot be built", drv.name)
                self._event(
                    "driver_unavailable",
                    Level.LEVEL_3,
                    driver=drv.name,
                    type=drv.type,
                    error=f"{type(exc).__name__}: {exc}",
                )
                continue
            sup = DriverSupervisor(driver, self._driver_fault)
            sup.start()
            self.supervisors.append(sup)

    def _start_sync(self, config: BoxConfigBase) -> None:
        """Upstream sync, if enabled. Optional by design: the box is complete without it."""
        self.sync = None
        if not config.sync.enabled:
            return
        from box.sync.downlink import Downlink
        from box.sync.keyring import SyncKeyring
        from box.sync.service import SyncService

        keyring = SyncKeyring(FileKeyProvider(self.home.keys_dir))
        downlink = Downlink(self.api, keyring)
        self.sync = SyncService(
            config,
            self.box_id,
            self.home.database_file,
            self.keys.get(STORE_KEY),
            keyring,
            self.writer,
            on_command=downlink.handle,
        )
        downlink.attach(self.sync)
        self.sync.start()

    def _stop_sync(self) -> None:
        if self.sync is not None:
            self.sync.stop()
            self.sync = None

    def _driver_fault(self, name: str, error: str, restart_in_s: float) -> None:
        self._event(
            "fault", Level.LEVEL_3, source=f"driver:{name}", error=error, restart_in_s=restart_in_s
        )

    def _start_web(self, config: BoxConfigBase) -> None:
        from box.store.database import connect
        from box.tls import default_paths
        from box.web import create_app
        from box.web.accounts import Accounts
        from box.web.server import WebServer

        self.web_reader = connect(self.home.database_file, self.keys.get(STORE_KEY), readonly=True)
        self.accounts = Accounts(self.writer, self.web_reader)

        tls = None
        if config.web.https:
            tls = (
                (Path(config.web.cert_file), Path(config.web.key_file))
                if config.web.cert_file
                else default_paths(self.home.keys_dir)
            )
        self.https = tls is not None  # before create_app: it sets the Secure cookie flag
        app = create_app(self.api)
        try:
            self.control = WebServer(app, [], unix_socket=self.home.control_socket)
            self.control.start()
        except OSError as exc:  # the CLI falls back to the web address
            log.error("cannot open the control socket %r: %s", self.home.control_socket, exc)
        try:
            self.web = WebServer(app, config.web.listen, tls=tls)
        except OSError as exc:
            # The web page is not a safety function: report it, keep the alarms running.
            self.web_error = f"cannot listen on {', '.join(config.web.listen)}: {exc}"
            log.error("%s", self.web_error)
            self._event("fault", Level.LEVEL_3, source="web", error=self.web_error)
            return
        self.web.start()

    def _event(self, kind: str, level: Level, source: str = "daemon", **details: Any) -> None:
        self.writer.submit_event(Event(kind, source, now_ms(), level, details))


def _with_current_secrets(text: str, current: Path) -> str:
    try:
        return unmask_text(text, current.read_text(encoding="utf-8"))
    except (ConfigError, OSError, UnicodeDecodeError, ValueError):
        return text  # a masked secret stays masked: sync reports the refused login
