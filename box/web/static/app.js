// Live tile values without a reload: poll the box's own status (no external scripts).
(function () {
  const names = JSON.parse(document.getElementById("quality-names")?.textContent || "{}");
  async function refresh() {
    try {
      const r = await fetch("/api/status", { credentials: "same-origin" });
      if (!r.ok) return;
      const s = await r.json();
      for (const c of s.channels) {
        const tile = document.querySelector(`.tile[data-channel="${CSS.escape(c.id)}"]`);
        if (!tile) continue;
        tile.querySelector(".v").textContent = c.value === null ? "—" : c.value.toFixed(2);
        const q = tile.querySelector(".q");
        q.textContent = names[c.quality] || c.quality;
        q.dataset.quality = c.quality;
        for (const k of ["good", "uncertain", "bad", "stale"]) tile.classList.toggle("q-" + k, c.quality === k);
        tile.classList.toggle("in-alarm", c.alarms_active.length > 0);
      }
      for (const [name, o] of Object.entries(s.outputs)) {
        const li = document.querySelector(`li[data-output="${CSS.escape(name)}"] .mode`);
        if (li) li.textContent = o.mode;
      }
      // Compare with what the server rendered, not with the first poll: an alarm raised in
      // between must not leave a list that says "no alarms".
      const ids = s.alarms.map(a => a.id + ":" + a.state).join(",");
      const list = document.getElementById("alarms");
      if (list && list.dataset.signature !== ids) location.reload();
    } catch (e) { /* the box restarts: try again next time */ }
  }
  setInterval(refresh, 2000);
  refresh();
})();
