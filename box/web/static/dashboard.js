// The alarm panel, the channel tiles and the outputs, patched in place from the push channel.
// Rows are keyed by alarm id; a row's buttons (and a half-typed shelve reason) are rebuilt only
// when what the operator may do changes, never because a value or a duration moved on.
"use strict";
(function () {
  const SB = window.SafetyBox, tr = SB.tr;
  const list = document.getElementById("alarms");
  const tiles = document.getElementById("tiles");
  const outputs = document.getElementById("outputs");
  const operator = document.body.dataset.operator === "1";
  const wall = document.body.classList.contains("wall");
  let channels = new Map(), firstOut = null, lastAlarms = null;
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const stateWord = (s) => tr("state." + s);

  function threshold(a) {
    const ch = channels.get(a.source);
    const name = a.id.slice(a.source.length + 1);
    const at = ch && ch.thresholds ? ch.thresholds[name] : undefined;
    return at === undefined ? null : at;
  }
  function facts(a) {
    const now = Date.now() / 1000, cat = SB.category(a), f = [];
    const unit = a.unit ? " " + esc(a.unit) : "";
    if (a.value != null) f.push([tr("a.value"), esc(SB.fmtValue(a.value, a.decimals)) + unit]);
    // What the rule compared with when it raised the alarm (its detail), else the channel's
    // current setting.
    const d = a.detail || {};
    const th = typeof d.threshold === "number" ? d.threshold : threshold(a);
    if (th != null) f.push([tr("a.threshold"), esc(SB.fmtValue(th, a.decimals)) + unit]);
    for (const k of ["average", "limit", "range_max", "rise"]) {
      if (typeof d[k] === "number") f.push([tr("a." + k), esc(SB.fmtValue(d[k], a.decimals)) + unit]);
    }
    f.push([tr("a.state"), esc(stateWord(a.state))]);
    f.push([tr("a.raised"), esc(SB.fmtTime(a.raised_at))]);
    if (a.raised_at) f.push([tr("a.duration"), esc(SB.fmtDuration((a.cleared_at && a.state !== "active_unack" && a.state !== "active_ack" ? a.cleared_at : now) - a.raised_at))]);
    if (a.acked) f.push([tr("a.acked"), esc(a.acked.who) + " · " + esc(SB.fmtTime(a.acked.at))]);
    f.push([tr("a.response"), esc(tr("response." + a.level))]);
    if (a.shelved) f.push([tr("a.shelved_until"), esc(SB.fmtTime(a.shelved.until)) + " · " + esc(a.shelved.reason) + " (" + esc(a.shelved.who) + ")"]);
    const sil = SB.latest().alarms?.silenced_until;
    if (sil && sil > now && cat === "alarm" && !a.shelved) f.push([tr("silenced_until"), esc(SB.fmtTime(sil))]);
    if (a.detail && a.detail.reason) f.push([tr("a.reason"), esc(a.detail.reason)]);
    return f.map(([k, v]) => `<span class="fact"><span class="k">${esc(k)}</span> <span class="v">${v}</span></span>`).join("");
  }
  function actionsKey(a) { return `${a.state}|${!!a.shelved}|${a.condition}`; }
  function actions(a) {
    if (!operator || wall) return "";
    const id = esc(a.id), parts = [];
    if (a.state === "active_unack" || a.state === "cleared_unack") parts.push(`<button type="button" class="ack" data-act="ack">${esc(tr("ack"))}</button>`);
    if ((a.state === "cleared_unack" || a.state === "latched") && !a.condition) parts.push(`<button type="button" class="reset" data-act="reset">${esc(tr("reset"))}</button>`);
    if (a.shelved) parts.push(`<button type="button" class="unshelve" data-act="unshelve">${esc(tr("unshelve"))}</button>`);
    else parts.push(
      `<span class="shelve"><label>${esc(tr("shelve_for"))} <select name="minutes">` +
      [30, 60, 240, 480, 1440].map(m => `<option value="${m}">${m >= 60 ? m / 60 + " h" : m + " min"}</option>`).join("") +
      `</select></label> <label>${esc(tr("reason"))} <input name="reason" required maxlength="200" data-for="${id}"></label> ` +
      `<button type="button" data-act="shelve">${esc(tr("shelve"))}</button></span>`);
    return parts.join(" ");
  }
  function row(a) {
    let li = list.querySelector(`li.alarm[data-id="${CSS.escape(a.id)}"]`);
    if (!li) {
      li = document.createElement("li");
      li.dataset.id = a.id;
      li.innerHTML = '<div class="a-head"></div><div class="a-facts"></div><div class="a-actions"></div>';
    }
    const cat = SB.category(a);
    li.className = `alarm cat-${cat} lvl-${a.level} st-${a.state}` + (a.state === "active_unack" ? " unack" : "");
    const head = `<span class="a-badge">${SB.SYMBOL[cat]} ${esc(tr("cat." + cat))}</span>` +
      `<span class="a-level">${esc(SB.levelWord(a.level))}</span>` +
      (a.id === firstOut ? `<em class="first-out">${esc(tr("first_out"))}</em>` : "") +
      `<strong class="a-name">${esc(a.name || a.id)}</strong> <code>${esc(a.id)}</code>`;
    const h = li.querySelector(".a-head"); if (h.innerHTML !== head) h.innerHTML = head;
    const fx = facts(a), fe = li.querySelector(".a-facts"); if (fe.innerHTML !== fx) fe.innerHTML = fx;
    const box = li.querySelector(".a-actions"), key = actionsKey(a);
    if (box.dataset.key !== key) {
      const typed = box.querySelector('input[name="reason"]')?.value;
      box.innerHTML = actions(a); box.dataset.key = key;
      const input = box.querySelector('input[name="reason"]');
      if (input && typed) input.value = typed;
    }
    return li;
  }
  function renderAlarms(msg) {
    if (!list) return;
    lastAlarms = msg; firstOut = msg.first_out;
    const shown = (msg.alarms || []).filter(a => a.state !== "normal" || a.shelved);
    // Most urgent first: unacknowledged, then by level, then newest.
    shown.sort((x, y) => (y.state === "active_unack") - (x.state === "active_unack") || x.level - y.level || (y.raised_at || 0) - (x.raised_at || 0));
    const keep = new Set(shown.map(a => a.id));
    for (const li of [...list.children]) if (!keep.has(li.dataset.id)) li.remove();
    shown.forEach((a, i) => {
      const li = row(a);
      if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
    });
    document.getElementById("no-alarms").hidden = shown.length > 0;
    const sil = document.getElementById("silence"); if (sil) sil.hidden = shown.length === 0;
    document.getElementById("alarm-count").textContent = shown.length ? `(${shown.length})` : "";
  }
  list?.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-act]");
    if (!btn) return;
    const li = btn.closest("li.alarm"), id = li.dataset.id, act = btn.dataset.act;
    let payload = {};
    if (act === "shelve") {
      const reason = li.querySelector('input[name="reason"]'), minutes = li.querySelector('select[name="minutes"]');
      if (!reason.value.trim()) { reason.reportValidity(); reason.focus(); return; }
      payload = { duration_s: Number(minutes.value) * 60, reason: reason.value.trim() };
    }
    btn.disabled = true;
    try { await SB.post(`/api/alarms/${encodeURIComponent(id)}/${act}`, payload); }
    catch (e) { alert(e.message); }
    finally { btn.disabled = false; }
  });
  document.getElementById("silence")?.addEventListener("click", () => SB.post("/api/alarms/silence").catch(e => alert(e.message)));

  function renderTiles(chs) {
    channels = new Map(chs.map(c => [c.id, c]));
    if (tiles) for (const c of chs) {
      const tile = tiles.querySelector(`.tile[data-channel="${CSS.escape(c.id)}"]`);
      if (!tile) continue;
      tile.querySelector(".v").textContent = SB.fmtValue(c.value, c.decimals);
      const q = tile.querySelector(".q");
      q.textContent = tr("q." + c.quality); q.dataset.quality = c.quality;
      const worst = worstAlarm(c.id);
      tile.className = "tile q-" + c.quality + (worst ? ` in-alarm lvl-${worst.level} cat-${SB.category(worst)}` : "");
      tile.querySelector(".state").textContent = worst ? `${SB.SYMBOL[SB.category(worst)]} ${SB.levelWord(worst.level)} · ${tr("cat." + SB.category(worst))}` : "";
    }
    if (lastAlarms) renderAlarms(lastAlarms);  // thresholds may have changed
  }
  function worstAlarm(channel) {
    const alarms = (lastAlarms?.alarms || []).filter(a => a.source === channel && a.state !== "normal");
    return alarms.sort((x, y) => !!x.shelved - !!y.shelved || x.level - y.level)[0];
  }
  function renderOutputs(outs) {
    if (!outputs) return;
    for (const [name, o] of Object.entries(outs)) {
      const li = outputs.querySelector(`li[data-output="${CSS.escape(name)}"]`);
      if (!li) continue;
      const mode = li.querySelector(".mode");
      mode.dataset.mode = o.mode; mode.textContent = tr("mode." + o.mode);
    }
  }
  function renderDrivers(b) {
    const el = document.getElementById("drivers");
    if (!el) return;
    el.textContent = b.drivers.map(d => `${d.name}: ${tr("driver." + d.state)}`).join(" · ") || "—";
    const up = document.getElementById("upstream");
    if (up) up.textContent = b.sync.enabled === false ? tr("sync_off") : b.sync.connected ? tr("connected") : tr("not_connected");
  }
  SB.on("alarms", (m) => { renderAlarms(m); if (channels.size) renderTiles([...channels.values()]); });
  SB.on("readings", renderTiles);
  SB.on("outputs", renderOutputs);
  SB.on("box", renderDrivers);
})();
