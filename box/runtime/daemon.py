"""The daemon: starts drivers, the rule pipeline, the store writer and the web server in order,
keeps them alive, reloads config on request, and stops them in reverse order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator
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
from box.config.loader import ConfigInvalid, context_for, parse_config, read_config_text
from box.config.schema import BoxConfigBase
from box.config.secrets import unmask_text
from box.core.errors import ConfigError, KeyFileError, StoreError
from box.core.levels import Level
from box.core.record_types import RecordTypes
from box.core.records import Event, now_ms
from box.instance import BoxRunning
from box.keys import API_TOKEN, STORE_KEY, FileKeyProvider, KeyProvider
from box.paths import BoxHome
from box.runtime import status
from box.runtime.facade import BoxFacade
from box.runtime.logs import CoreLog
from box.runtime.pipeline import Pipeline
from box.runtime.sdnotify import Notifier
from box.runtime.supervisor import DriverSupervisor
from box.store.database import StoreUnavailable
from box.store.writer import StoreWriter
from box.wipe import refuse_if_wiped
from drivers.base import DriverRegistry, default_registry

if TYPE_CHECKING:
    import sqlite3

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
        self.sync_error = ""
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
        self._reader_lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._reload_requested = threading.Event()
        # Wakes run_forever's loop at once, not at its next tick: a socket pair (made there),
        # because a signal handler must take no lock the interrupted main thread may hold
        # (Event.set in a handler deadlocked when a signal came while the loop was inside
        # Event.wait: a SIGINT to the demo hung the daemon for good).
        self._wake_w: socket.socket | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start everything in order; if a step fails, close what the earlier ones opened.

        A start-up that fails with a config (outputs that cannot be built, a plug-in that
        raises) is tried again with the last good configs from history, newest first: the
        alarms must run. Failures that no config causes (keys, the store's lock) are raised."""
        refuse_if_wiped(self.home)  # no new keys over a shredded store, however it was restarted
        self.box_id = self.home.read_box_id()
        store_key = self.keys.get(STORE_KEY)
        self.api_token = self.keys.get(API_TOKEN).hex()
        failed: list[str] = []
        for config, text, source, rejected in self._config_candidates():
            try:
                self._start(config, text, "; ".join([*rejected, *failed]), store_key)
                return
            except (BoxRunning, KeyFileError, KeyboardInterrupt, SystemExit):
                self._close_failed_start()
                raise
            except Exception as exc:
                self._close_failed_start()
                if isinstance(exc, StoreError) and not isinstance(exc, StoreUnavailable):
                    raise  # a wrong key or a damaged store: no config fixes that
                why = f"starting with {source} failed: {type(exc).__name__}: {exc}"
                log.error("%s; trying the previous good config", why)
                failed.append(why)
                last: BaseException = exc
        if failed:
            raise last
        raise ConfigError("no config to start with")  # not reached: candidates raise first

    def _close_failed_start(self) -> None:
        log.error("start-up failed after %s; closing them", ", ".join(self._opened) or "nothing")
        self.stop()
        self._opened = []
        self.supervisors = []
        self.web = None
        self.sync = None
        self.web_error = ""

    def _start(
        self, config: BoxConfigBase, text: str, fallback_reason: str, store_key: bytes
    ) -> None:
        self.core_log.start()
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
        previous = self._parse_quietly(previous_text) if previous_text != text else None
        if previous is not None and previous.channels and not config.channels:
            raise ConfigError(  # start() goes on to the config history
                f"the config declares no [[channels]] while the last applied one had "
                f"{len(previous.channels)} (a truncated or emptied file?)"
            )
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
                previous,
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
        if problem := self.writer.commit_problem() or self.writer.disk_problem():
            self._store_health(problem)  # e.g. a full disk at start: a fault alarm from now on
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
        self._wake_main()

    def _wake_main(self) -> None:
        w = self._wake_w
        if w is not None:
            with contextlib.suppress(OSError):  # full (already woken) or closed: nothing to do
                w.send(b"!")

    def run_forever(self) -> None:
        """Run until SIGTERM/SIGINT; SIGHUP reloads the config. Feeds the systemd watchdog."""

        # The handler only appends to a list (no lock: it may interrupt the main thread while
        # that holds any lock); set_wakeup_fd wakes the loop's select, which acts on them.
        pending: list[int] = []

        def handler(signum: int, frame: FrameType | None) -> None:
            pending.append(signum)

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, handler)
        wake_r, self._wake_w = socket.socketpair()
        wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        self.start()
        try:
            write_atomic(self.home.pid_file, f"{os.getpid()}\n")
        except OSError as exc:  # a full or read-only disk must not stop the alarms
            log.error("cannot write %s: %s", self.home.pid_file, exc)
        interval = min(self.notifier.watchdog_interval_s or 5.0, 5.0)
        try:
            while not self._stop_requested.is_set():
                select.select([wake_r], [], [], interval)
                with contextlib.suppress(BlockingIOError, InterruptedError):
                    while wake_r.recv(256):
                        pass
                while pending:
                    got = pending.pop(0)
                    flag = self._reload_requested if got == signal.SIGHUP else self._stop_requested
                    flag.set()
                if not self._stop_requested.is_set():
                    self.tick()
        finally:
            signal.set_wakeup_fd(-1)
            self.stop()
            w, self._wake_w = self._wake_w, None
            for sock in (wake_r, w):
                if sock is not None:
                    sock.close()
            try:
                self.home.pid_file.unlink(missing_ok=True)
            except OSError as exc:
                log.error("cannot remove %s: %s", self.home.pid_file, exc)

    def tick(self) -> bool:
        """One turn of the main loop: pending reload, then feed the watchdog if healthy.

        Returns whether the watchdog was fed. A stuck or dead worker starves the watchdog, so
        systemd restarts the box.
        """
        if self._reload_requested.is_set():
            self._reload_requested.clear()
            self.reload(who="signal:SIGHUP")
        stuck = status.health_problems(self, restartable_only=True)
        if stuck:
            log.error("not feeding the watchdog: %s", "; ".join(stuck))
            self.notifier.status("unhealthy: " + "; ".join(stuck))
            return False
        if problems := status.health_problems(self):
            self.notifier.watchdog()  # a restart would not cure these (a full disk)
            self.notifier.status("degraded: " + "; ".join(problems))
            return True
        self.notifier.watchdog()
        self.notifier.status(status.status_line(self))
        return True

    # -- config -----------------------------------------------------------------------------------

    @property
    def _validation(self) -> tuple[DriverRegistry, RuleKinds, OutputKinds, dict[str, Any]]:
        """What every config of this box is validated with: its drivers, rule and output kinds
        and files (its own Modbus profiles, read afresh each time, so a reload sees a new one)."""
        return self.registry, self.rule_kinds, self.output_kinds, context_for(self.home.config_file)

    def _config_candidates(self) -> Iterator[tuple[BoxConfigBase, str, str, list[str]]]:
        """The config file, then the valid ones in history, newest first: (config, text, its
        file, why the ones before were rejected). Raises the file's error if none is valid."""
        path = self.home.config_file
        rejected: list[str] = []
        tried: set[str] = set()
        try:
            text = read_config_text(path)
            tried.add(text)
            yield parse_config(text, str(path), *self._validation), text, str(path), []
        except (ConfigError, OSError) as exc:
            rejected.append(str(exc))
        for old in sorted(self.home.config_history_dir.glob("box-*.toml"), reverse=True):
            try:
                # History keeps secrets masked: they come back from the current file if they can.
                text = _with_current_secrets(read_config_text(old), path)
                if text in tried:
                    continue
                tried.add(text)
                config = parse_config(text, str(old), *self._validation)
            except (ConfigError, OSError):
                continue
            log.error("falling back to the last good config %s", old)
            yield config, text, str(old), rejected
        if rejected:
            raise ConfigError(rejected[0])

    def reload(self, who: str) -> dict[str, Any]:
        """Validate and apply box.toml. Everything new is built before anything switches; on
        any failure the running config keeps running, and the reason is stored."""
        with self._reload_lock:
            path = self.home.config_file
            try:
                text = read_config_text(path)
                new = parse_config(text, str(path), *self._validation)
            except (ConfigError, OSError) as exc:
                if isinstance(exc, ConfigInvalid):
                    errors = [issue.render(exc.source) for issue in exc.issues]
                else:
                    errors = [str(exc)]
                return self._reject(who, errors, exc)
            old = self.config
            changed = changed_paths(old, new)
            if not changed:
                return {"accepted": True, "errors": [], "changed": []}
            if old.channels and not new.channels:
                reason = (
                    f"{path} declares no [[channels]] while {len(old.channels)} are running "
                    "(a truncated or emptied file?); to stop monitoring every channel, keep one "
                    "channel or stop the box"
                )
                return self._reject(who, [reason], reason)
            try:
                self._apply(old, new)
            except Exception as exc:  # noqa: BLE001 - any failure: the running config stays
                log.exception("applying the config failed; the running config keeps running")
                reason = f"applying it failed ({type(exc).__name__}: {exc}); nothing was changed"
                return self._reject(who, [reason], reason)
            self._record_applied(old, new, text, who)
            self.config, self.config_text, self.config_loaded_ms = new, text, now_ms()
            if old.web.listen != new.web.listen:
                log.warning("web.listen changed: takes effect at the next restart")
            log.info("config applied (%s): %s", who, ", ".join(changed[:20]))
            return {"accepted": True, "errors": [], "changed": changed}

    def _reject(self, who: str, errors: list[str], why: object) -> dict[str, Any]:
        self._event("config_rejected", Level.LEVEL_3, who=who, errors=errors)
        log.error("config rejected (%s), keeping the running config:\n%s", who, why)
        return {"accepted": False, "errors": errors, "changed": []}

    def _apply(self, old: BoxConfigBase, new: BoxConfigBase) -> None:
        """Build the new drivers, then switch outputs and rules (rolled back if that fails),
        then swap only the drivers whose section changed, and sync only if its part did."""
        stale, built = self._build_changed_drivers(old, new)  # raises before any switch
        self.pipeline.call(lambda: self._reconfigure_alarms(old, new))
        self.writer.reconfigure(new.store)
        for sup in stale:
            sup.stop()
        self.supervisors = [s for s in self.supervisors if s not in stale]
        for sup in built:
            sup.start()
            self.supervisors.append(sup)
        order = {d.name: i for i, d in enumerate(new.drivers)}
        self.supervisors.sort(key=lambda s: order.get(s.name, len(order)))
        if old.sync != new.sync:
            self._stop_sync()
            self._start_sync(new)
        elif self.sync is not None and old.channels != new.channels:
            self.sync.config = new  # channels' upstream policies and birth: no reconnect
            self.sync.outbox.configure(new)

    def _build_changed_drivers(
        self, old: BoxConfigBase, new: BoxConfigBase
    ) -> tuple[list[DriverSupervisor], list[DriverSupervisor]]:
        """(running supervisors to stop, new ones built but not started) for the drivers whose
        section changed, appeared or went; an unchanged driver keeps running untouched."""
        before = {d.name: d for d in old.drivers}
        after = {d.name: d for d in new.drivers}
        changed = {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}
        stale = [s for s in self.supervisors if s.name in changed]
        built = []
        for name in changed:
            drv = after.get(name)
            if drv is None or not drv.enabled:
                continue
            cls = self.registry.drivers.get(drv.type)
            if cls is None:
                reason = self.registry.failed.get(drv.type, "not installed")
                self._event(
                    "driver_unavailable", Level.LEVEL_3, driver=name, type=drv.type, error=reason
                )
                continue
            built.append(DriverSupervisor(cls(drv, self.pipeline.submit), self._driver_fault))
        return stale, built

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
            self._alarm_event,
            saved_state=saved,
            persist=self.writer.set_state,
            outputs=Annunciators(self.outputs, self.plugin_outputs),
            kinds=self.rule_kinds,
        )
        for name, reason in self.rule_kinds.failed.items():
            self._event("rule_kind_unavailable", Level.LEVEL_3, rule_kind=name, error=reason)

    def _alarm_event(self, event: Event) -> None:
        """The engine's events: stored, and shown to drivers that act on alarms (a camera that
        a positioning zone links to snapshots an SOS there). On the core thread."""
        self.writer.submit_event(event)
        if not event.kind.startswith("alarm_"):
            return
        for sup in self.supervisors:
            try:
                sup.driver.notice(event)
            except Exception:  # a driver's hook never holds up the alarms
                log.exception("driver %s failed to take note of %s", sup.name, event.kind)

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
        """Runs on the pipeline thread. Outputs and buttons are rebuilt only if they changed;
        if the new ones or the new rules cannot be built, the old ones are put back (the pins
        are released first: gpiozero cannot claim a pin twice) and the error raised."""
        pins = old.outputs.gpio() != new.outputs.gpio() or old.inputs != new.inputs
        old_factory = self.outputs.factory
        same = old.outputs.pin_factory == new.outputs.pin_factory
        if pins:
            try:
                self._rebuild_outputs(new, old_factory if same else None)
            except Exception:
                self._rebuild_outputs(old, old_factory)
                raise
        try:
            self.engine.reconfigure(new)
        except Exception:
            self.engine.reconfigure(old)
            if pins:
                self._rebuild_outputs(old, old_factory)
            raise
        if old.outputs.plugins != new.outputs.plugins:
            self.plugin_outputs.reconfigure(new.outputs.plugins)  # only the changed ones

    def _rebuild_outputs(self, config: BoxConfigBase, factory: Any) -> None:
        """Replace the GPIO outputs and buttons by ``config``'s; on failure closes what it
        built and raises, leaving no pin claimed."""
        self.buttons.close()
        self.outputs.close()
        outputs = OutputController(config.outputs, factory, self._output_fault)
        try:
            self.outputs = outputs
            self.engine.outputs = Annunciators(self.outputs, self.plugin_outputs)
            self.engine.annunciation = None  # drive the new outputs on the next refresh
            self._start_buttons(config)
        except Exception:
            outputs.close()
            raise

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
        try:
            archive(self.home.config_history_dir, text)
        except OSError as exc:  # a full or read-only disk: the config still runs
            log.error("cannot archive the applied config: %s", exc)
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
        try:
            self.sync = SyncService(
                config,
                self.box_id,
                self.home.database_file,
                self.keys.get(STORE_KEY),
                keyring,
                self.writer,
                on_command=downlink.handle,
            )
        except (StoreError, RuntimeError, OSError) as exc:
            # Optional by design: a full or read-only disk (no boot counter, no reader) stops
            # the uplink, never the box; the next reload or restart tries again.
            self.sync_error = f"sync cannot start: {exc}"
            log.error("%s", self.sync_error)
            self._event("fault", Level.LEVEL_3, source="sync", error=self.sync_error)
            return
        self.sync_error = ""
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
        from box.tls import default_paths
        from box.web import create_app
        from box.web.server import WebServer

        self.open_web_reader()  # the page (status, health) serves even if the disk refuses it

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

    def open_web_reader(self) -> bool:
        """The web threads' read-only store connection and the accounts on it, opened now if
        they are not yet (the disk refused them at start-up); False while it still refuses."""
        from box.store.database import connect
        from box.web.accounts import Accounts

        with self._reader_lock:
            if self.web_reader is not None:
                return True
            try:
                reader = connect(self.home.database_file, self.keys.get(STORE_KEY), readonly=True)
            except StoreUnavailable as exc:
                log.error("web pages that read the store are unavailable: %s", exc)
                return False
            self.web_reader = reader
            self.accounts = Accounts(self.writer, reader)
            return True

    def _event(self, kind: str, level: Level, source: str = "daemon", **details: Any) -> None:
        self.writer.submit_event(Event(kind, source, now_ms(), level, details))


def _with_current_secrets(text: str, current: Path) -> str:
    try:
        return unmask_text(text, current.read_text(encoding="utf-8"))
    except (ConfigError, OSError, UnicodeDecodeError, ValueError):
        return text  # a masked secret stays masked: sync reports the refused login
