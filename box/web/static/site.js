// Drag channel markers onto the plan (admins); colours follow the live alarm state.
(function () {
  const plan = document.getElementById("plan");
  if (!plan) return;
  const csrf = plan.dataset.csrf;
  // Positions come as data attributes: the page's CSP allows no inline style attributes.
  for (const m of plan.querySelectorAll(".marker")) {
    m.style.left = m.dataset.x + "%";
    m.style.top = m.dataset.y + "%";
  }
  let dragging = null;
  plan.addEventListener("pointerdown", e => {
    if (plan.dataset.admin !== "1" || !e.target.classList.contains("marker")) return;
    dragging = e.target; dragging.setPointerCapture(e.pointerId); e.preventDefault();
  });
  plan.addEventListener("pointermove", e => {
    if (!dragging) return;
    const r = plan.getBoundingClientRect();
    dragging.style.left = Math.min(100, Math.max(0, (e.clientX - r.left) / r.width * 100)) + "%";
    dragging.style.top = Math.min(100, Math.max(0, (e.clientY - r.top) / r.height * 100)) + "%";
  });
  plan.addEventListener("pointerup", async () => {
    if (!dragging) return;
    const m = dragging; dragging = null;
    await fetch("/api/site/positions", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ channel: m.dataset.channel, x: parseFloat(m.style.left),
                             y: parseFloat(m.style.top) }),
    });
  });
  async function refresh() {
    try {
      const s = await (await fetch("/api/status", { credentials: "same-origin" })).json();
      for (const c of s.channels) {
        const m = plan.querySelector(`.marker[data-channel="${CSS.escape(c.id)}"]`);
        if (!m) continue;
        m.classList.toggle("alarm", c.alarms_active.length > 0);
        m.classList.toggle("fault", c.alarms_active.length === 0 && (c.quality === "bad" || c.quality === "stale"));
        m.classList.toggle("ok", c.alarms_active.length === 0 && c.quality === "good");
      }
    } catch (e) { /* next time */ }
  }
  setInterval(refresh, 2000);
})();
