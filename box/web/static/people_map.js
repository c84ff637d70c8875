// The people layer of the site map (positioning): tags moving on the plan with their names,
// zones coloured by state, SOS and man-down markers that cannot be missed, the muster roll, and
// a trajectory replay for one person. Data arrives on the push channel's "people" topic (the
// box's positioning snapshot, site metres with the origin at the plan's bottom-left corner);
// the map itself is site.js's (window.SafetyBoxMap).
"use strict";
(function () {
  const SB = window.SafetyBox, tr = SB.tr;
  const panel = document.getElementById("people-panel");
  if (!panel || !window.L) return;
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const zones = new Map(), tags = new Map();
  let M = null, snap = null, replay = null;

  const at = (x, y) => M.toLatLng(x / snap.plan_m[0] * 100, (1 - y / snap.plan_m[1]) * 100);

  function stateOf(p) {
    const a = p.alarms || {};
    if (a.sos || p.sos) return { cls: "sos", sym: "▲", word: tr("people.sos") };
    if (a.man_down) return { cls: "man-down", sym: "▲", word: tr("people.man_down") };
    if (a.man_down_pre) return { cls: "man-down-pre", sym: "△", word: tr("people.no_motion") };
    if (p.lost) return { cls: "lost", sym: "?", word: tr("people.lost") };
    if (a.battery) return { cls: "battery", sym: "◆", word: tr("people.battery_low") };
    return { cls: "ok", sym: "●", word: "" };
  }

  function drawZones() {
    for (const z of snap.zones) {
      const cls = `zone zone-${z.type} zone-${z.state}`;
      let layer = zones.get(z.id);
      if (!layer) {
        layer = L.polygon(z.polygon.map(([x, y]) => at(x, y)), { className: cls, interactive: true })
          .addTo(M.map);
        zones.set(z.id, layer);
      }
      layer.getElement()?.setAttribute("class", `leaflet-interactive ${cls}`);
      const cams = (z.cameras || []).map(c => `<a href="/cameras#${encodeURIComponent(c)}">${esc(c)}</a>`).join(", ");
      layer.bindTooltip(`${esc(z.name || z.id)}: ${z.count}${z.max_people ? " / " + z.max_people : ""} ` +
        `${esc(tr("people.inside"))}${z.state === "alarm" ? " ▲ " + esc(tr("cat.alarm")) : ""}`);
      layer.bindPopup(`<b>${esc(z.name || z.id)}</b><br>${esc(tr("people.inside"))}: ${z.count}` +
        (cams ? `<br>${esc(tr("people.cameras"))}: ${cams}` : ""));
    }
  }

  function drawTags() {
    const seen = new Set();
    for (const p of snap.people) {
      if (p.x === null || p.y === null) continue;
      seen.add(p.tag);
      const s = stateOf(p);
      const html = `<div class="tag tag-${s.cls}" data-tag="${esc(p.tag)}"><span class="tag-sym" aria-hidden="true">${s.sym}</span>` +
        ` <span class="tag-name">${esc(p.name || p.tag)}</span>${s.word ? ` <b class="tag-state">${esc(s.word)}</b>` : ""}</div>`;
      let m = tags.get(p.tag);
      if (!m) {
        m = L.marker(at(p.x, p.y), { keyboard: true, title: p.name || p.tag, zIndexOffset: 1000,
          icon: L.divIcon({ className: "tag-wrap", html, iconSize: null }) }).addTo(M.map);
        tags.set(p.tag, m);
      } else {
        m.setLatLng(at(p.x, p.y));
        const div = m.getElement()?.querySelector(".tag");
        if (div && div.outerHTML !== html) m.setIcon(L.divIcon({ className: "tag-wrap", html, iconSize: null }));
      }
      if (s.cls === "sos" || s.cls === "man-down") m.setZIndexOffset(2000);
    }
    for (const [tag, m] of tags) if (!seen.has(tag)) { m.remove(); tags.delete(tag); }
  }

  function drawPanel() {
    const urgent = snap.people.filter(p => ["sos", "man-down"].includes(stateOf(p).cls));
    const rows = urgent.map(p => `<li class="urgent"><b>${esc(stateOf(p).word)}</b> ${esc(p.name || p.tag)}` +
      ` (${esc((p.zones || []).join(", ") || "-")}, x ${p.x} y ${p.y})</li>`).join("");
    const m = snap.muster || {};
    let muster = `<p>${esc(tr("people.muster_none"))}</p>`;
    if (m.active) {
      const acc = (m.accounted || []).map(a => `<li>${esc(a.person || a.tag)} → ${esc(a.point || "")} (${esc(a.time_to_muster_s)} s)</li>`).join("");
      const inside = (m.inside || []).map(a => `<li>${esc(a.person || a.tag)}: ${esc((a.zones || []).join(", "))}, x ${esc(a.x)} y ${esc(a.y)} (${esc(a.age_s)} s)</li>`).join("");
      const missing = (m.missing || []).map(a => `<li>${esc(a.person || a.tag)}${a.zones === undefined ? "" : ` (x ${esc(a.x)} y ${esc(a.y)}, ${esc(a.age_s)} s)`}</li>`).join("");
      muster = `<h3>${esc(tr("people.muster_running"))} · ${esc(m.elapsed_s)} s</h3>` +
        `<h4>${esc(tr("people.accounted"))} (${(m.accounted || []).length})</h4><ul>${acc}</ul>` +
        `<h4>${esc(tr("people.still_inside"))} (${(m.inside || []).length})</h4><ul>${inside}</ul>` +
        `<h4>${esc(tr("people.missing"))} (${(m.missing || []).length})</h4><ul>${missing}</ul>`;
    }
    const list = document.getElementById("people-urgent");
    list.innerHTML = rows;
    list.hidden = !rows;
    const start = document.getElementById("muster-start"), end = document.getElementById("muster-end");
    if (start) { start.hidden = !!m.active; end.hidden = !m.active; }
    const roll = document.getElementById("people-muster");
    if (roll.innerHTML !== muster) roll.innerHTML = muster;
    const who = document.getElementById("replay-tag");
    const known = new Set([...who.options].map(o => o.value));
    for (const p of snap.people) {
      if (known.has(p.tag)) continue;
      const o = document.createElement("option");
      o.value = p.tag; o.textContent = p.name || p.tag;
      who.appendChild(o);
    }
    document.getElementById("people-count").textContent = String(snap.people.length);
  }

  function render() {
    if (!M || !snap || !snap.plan_m) return;
    drawZones();
    drawTags();
    drawPanel();
  }

  async function playBack(e) {
    e.preventDefault();
    if (!M || !snap) return;
    const tag = document.getElementById("replay-tag").value;
    const since = document.getElementById("replay-since").value;
    const r = await fetch(`/api/people/track?tag=${encodeURIComponent(tag)}&since=${encodeURIComponent(since)}`,
      { credentials: "same-origin" });
    const points = r.ok ? await r.json() : [];
    if (replay) { replay.line.remove(); replay.dot.remove(); }
    const slider = document.getElementById("replay-pos");
    const out = document.getElementById("replay-at");
    if (!points.length) { out.textContent = tr("people.no_track"); slider.hidden = true; return; }
    const lls = points.map(p => at(p.x, p.y));
    replay = { points, line: L.polyline(lls, { className: "track" }).addTo(M.map),
      dot: L.circleMarker(lls[0], { radius: 8, className: "track-dot" }).addTo(M.map) };
    slider.max = String(points.length - 1); slider.value = "0"; slider.hidden = false;
    const show = () => {
      const i = Number(slider.value), p = replay.points[i];
      replay.dot.setLatLng(lls[i]);
      out.textContent = `${new Date(p.ts_ms).toLocaleString()} · x ${p.x} y ${p.y} (${i + 1}/${points.length})`;
    };
    slider.oninput = show;
    show();
  }

  async function muster(action) {
    const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
    await fetch(`/api/people/muster/${action}`, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: "{}" });
  }
  document.getElementById("muster-start")?.addEventListener("click", () => muster("start"));
  document.getElementById("muster-end")?.addEventListener("click", () => muster("end"));
  document.getElementById("replay").addEventListener("submit", playBack);
  SB.on("people", (s) => { snap = s; panel.hidden = false; render(); });
  document.addEventListener("safetybox:map", (e) => { M = e.detail; render(); });
  if (window.SafetyBoxMap) M = window.SafetyBoxMap;
})();
