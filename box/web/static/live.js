// The push channel on every page: one EventSource to /api/push, the alarm banner, the tab
// title, sound and notifications, and the "out of date" marker. Pages register handlers with
// SafetyBox.on(topic, fn) (see docs/WEB.md); fn(data) gets the topic's whole current state.
"use strict";
window.SafetyBox = (function () {
  const body = document.body;
  const T = JSON.parse(document.getElementById("i18n")?.textContent || "{}");
  const tr = (k) => T[k] || String(k).split(".").pop();  // an unknown state shows its own name
  const lang = document.documentElement.lang || "en";
  const handlers = {};
  const topics = new Set(["alarms", "box", ...(body.dataset.push || "").split(/\s+/).filter(Boolean)]);
  const latest = {};
  let source = null, lastMessage = 0, retryMs = 1000, started = false, stale = true;
  const baseTitle = document.title;

  function on(topic, fn) {
    (handlers[topic] ||= []).push(fn);
    if (latest[topic] !== undefined) fn(latest[topic]);
    if (!topics.has(topic)) { topics.add(topic); if (started) connect(); }
  }
  function emit(topic, data) {
    latest[topic] = data;
    for (const fn of handlers[topic] || []) {
      try { fn(data); } catch (e) { console.error("push handler", topic, e); }
    }
  }
  function connect() {
    if (source) source.close();
    const q = new URLSearchParams({ topics: [...topics].join(","), readings_ms: body.dataset.readingsMs || "1000" });
    source = new EventSource("/api/push?" + q);
    source.onopen = () => { retryMs = 1000; };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {  // refused (full, logged out): retry ourselves
        setStale(true);
        fetch("/api/session", { credentials: "same-origin" }).then(r => {
          if (r.status === 401) setStale(true, tr("live.logged_out"));
        }).catch(() => {});
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 15000);
      } else setStale(true);
    };
    for (const t of topics) source.addEventListener(t, ev => {
      lastMessage = Date.now(); setStale(false);
      emit(t, JSON.parse(ev.data));
    });
    source.addEventListener("ping", () => { lastMessage = Date.now(); setStale(false); });
  }
  // A heartbeat comes every 15 s at the latest: silence beyond 25 s means the data is old.
  setInterval(() => { if (Date.now() - lastMessage > 25000) setStale(true); }, 2000);
  function setStale(isStale, why) {
    const el = document.getElementById("live");
    if (!el) return;
    if (isStale === stale && !why) return;
    stale = isStale;
    body.classList.toggle("stale", isStale);
    el.className = isStale ? "live-stale" : "live-ok";
    el.textContent = isStale
      ? (why || tr("live.stale") + (lastMessage ? " " + fmtTime(lastMessage / 1000) : ""))
      : "● " + tr("live.ok");
  }

  // -- formatting shared by the pages ---------------------------------------------------------
  function fmtTime(s) {
    if (s == null) return "—";
    const d = new Date(s * 1000), today = new Date();
    const opts = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
    if (d.toDateString() !== today.toDateString()) Object.assign(opts, { month: "2-digit", day: "2-digit" });
    return d.toLocaleString(lang, opts);
  }
  function fmtDuration(s) {
    if (s == null || s < 0) return "—";
    s = Math.floor(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return h ? `${h} h ${m} min` : m ? `${m} min ${sec} s` : `${sec} s`;
  }
  function fmtValue(v, decimals) {
    return v == null ? "—" : Number(v).toFixed(decimals ?? 2);
  }
  const levelWord = (l) => tr("level." + l);
  // What an alarm is, beyond its colour: alarm, fault, inhibited, shelved (with a symbol each).
  function category(a) {
    if (a.shelved) return "shelved";
    if (a.kind === "fault") return "fault";
    if (a.kind === "inhibit") return "inhibit";
    return "alarm";
  }
  const SYMBOL = { alarm: "▲", fault: "◆", inhibit: "○", shelved: "⏸" };
  function standing(alarms) { return alarms.filter(a => a.state !== "normal" && !a.shelved && !a.pending); }

  // -- banner, title, sound, notifications ----------------------------------------------------
  const banner = document.getElementById("banner");
  const known = new Map();  // alarm id -> state, to notice new raises
  let firstAlarms = true, audio = null, beepTimer = null, silencedUntil = null, lastAlarms = [];
  const store = (k, v) => { try { if (v === undefined) return localStorage.getItem(k); localStorage.setItem(k, v); } catch (e) { return null; } };

  function renderBanner(msg) {
    const alarms = msg.alarms || [];
    lastAlarms = alarms; silencedUntil = msg.silenced_until;
    const up = standing(alarms);
    const unacked = up.filter(a => a.state === "active_unack" || a.state === "cleared_unack");
    const shelved = alarms.filter(a => a.shelved).length;
    const top = up.reduce((m, a) => Math.min(m, a.level), 9);
    document.title = (up.length ? `(${up.length}${unacked.length ? "!" : ""}) ` : "") + baseTitle;
    if (banner) {
      banner.className = "banner " + (up.length ? "lvl-" + top : "none");
      banner.querySelector(".b-level").textContent = up.length ? levelWord(top) : "✓";
      let text = up.length
        ? tr("banner.active").replace("{n}", up.length).replace("{u}", unacked.length)
        : tr("banner.none");
      const faults = up.filter(a => a.kind === "fault").length;
      if (faults) text += " · " + tr("banner.faults").replace("{n}", faults);
      if (shelved) text += " · " + tr("banner.shelved").replace("{n}", shelved);
      if (silencedUntil && silencedUntil * 1000 > Date.now()) text += " · " + tr("silenced_until") + " " + fmtTime(silencedUntil);
      banner.querySelector(".b-text").textContent = text;
      const ack = document.getElementById("banner-ack");
      if (ack) ack.hidden = unacked.length === 0;
    }
    for (const a of up) {
      const before = known.get(a.id);
      if (!firstAlarms && a.state === "active_unack" && before !== "active_unack") notify(a);
    }
    known.clear();
    for (const a of alarms) known.set(a.id, a.state);
    firstAlarms = false;
    sound(unacked.length > 0 && !(silencedUntil && silencedUntil * 1000 > Date.now()));
  }
  function notify(a) {
    if (store("sb.notify") !== "1" || !("Notification" in window) || Notification.permission !== "granted") return;
    try { new Notification(`${levelWord(a.level)}: ${a.name || a.id}`, { body: a.id, tag: a.id }); } catch (e) { /* not allowed here */ }
  }
  function sound(wanted) {
    wanted = wanted && store("sb.sound") === "1";
    if (!wanted) { clearInterval(beepTimer); beepTimer = null; return; }
    if (beepTimer) return;
    const beep = () => {
      try {
        audio ||= new (window.AudioContext || window.webkitAudioContext)();
        const o = audio.createOscillator(), g = audio.createGain();
        o.frequency.value = 880; g.gain.value = 0.2;
        o.connect(g); g.connect(audio.destination);
        o.start(); o.stop(audio.currentTime + 0.35);
      } catch (e) { /* no audio device */ }
    };
    beep(); beepTimer = setInterval(beep, 2000);
  }
  function toggle(id, key, onEnable) {
    const btn = document.getElementById(id);
    if (!btn) return;
    const show = () => btn.setAttribute("aria-pressed", store(key) === "1" ? "true" : "false");
    btn.addEventListener("click", async () => {
      const enable = store(key) !== "1";
      if (enable && onEnable && !(await onEnable())) return;
      store(key, enable ? "1" : "0"); show();
      if (latest.alarms) renderBanner(latest.alarms);
    });
    show();
  }
  toggle("sound-toggle", "sb.sound");
  toggle("notify-toggle", "sb.notify", async () => {
    if (!("Notification" in window)) return false;
    if (Notification.permission === "default") await Notification.requestPermission();
    return Notification.permission === "granted";
  });

  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  async function post(url, payload) {
    const r = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(payload || {}),
    });
    if (!r.ok) {
      let msg = r.status + "";
      try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return r.json();
  }
  document.getElementById("banner-ack")?.addEventListener("click", () => {
    post("/api/alarms/ack-all").catch(e => alert(e.message));
  });

  // A form with data-confirm asks first (no inline handlers: the page's CSP forbids them).
  document.addEventListener("submit", (ev) => {
    const text = ev.target.dataset?.confirm;
    if (text && !confirm(text)) ev.preventDefault();
  });

  on("alarms", renderBanner);
  on("box", (b) => {
    const el = document.getElementById("box-health");
    if (!el) return;
    el.className = b.healthy ? "ok" : "bad";
    el.querySelector(".h-text").textContent = b.healthy ? tr("box.ok") : tr("box.problems").replace("{n}", b.problems.length);
    el.title = b.problems.join("\n");
  });
  // Durations and "silenced until" age with the clock, not only when a message arrives.
  setInterval(() => { if (latest.alarms) emit("alarms", latest.alarms); }, 1000);

  // A browser keeps at most six connections to the box: a page left for another (or kept in the
  // back/forward cache) must give its stream back at once, and take a new one when shown again.
  addEventListener("pagehide", () => { if (source) { source.close(); source = null; } });
  addEventListener("pageshow", (ev) => { if (ev.persisted && started) connect(); });
  document.addEventListener("DOMContentLoaded", () => {
    // What the page was rendered with, so it is complete before the stream's first message.
    const initial = JSON.parse(document.getElementById("push-initial")?.textContent || "{}");
    for (const [t, data] of Object.entries(initial)) if (latest[t] === undefined) emit(t, data);
    started = true; connect();
  });
  return { on, post, tr, fmtTime, fmtDuration, fmtValue, levelWord, category, SYMBOL, standing, latest: () => latest };
})();
