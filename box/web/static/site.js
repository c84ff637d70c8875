// The site plan on a pannable, zoomable map (Leaflet, vendored, simple image CRS): a marker per
// placed channel with its live value and state colour, a tray of the unplaced ones. Admins drag
// markers (or tap a tray item, then the plan) to place them. Positions are kept as percentages
// of the plan (x from the left, y from the top). Other pages' layers (tags, zones) can use
// window.SafetyBoxMap = { map, toLatLng(x, y), toPercent(latlng) }.
"use strict";
(function () {
  const SB = window.SafetyBox, tr = SB.tr;
  const el = document.getElementById("map");
  if (!el || !window.L) return;
  const admin = el.dataset.admin === "1";
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const placed = JSON.parse(document.getElementById("positions").textContent || "{}");
  const tray = document.getElementById("tray");
  const markers = new Map();
  let W = 1000, H = 1000, map = null, channels = [], alarms = [], placing = null, cameras = [];
  // cameras are markers too ("camera:<name>", placed like channels, linking the cameras page)
  const items = () => channels.concat(cameras.map(k => ({ id: "camera:" + k.name, name: "◉ " + k.name,
    camera: k.name, camState: k.state, value: null, unit: "" })));

  const toLatLng = (x, y) => L.latLng(H * (1 - y / 100), W * x / 100);
  const toPercent = (ll) => [
    Math.min(100, Math.max(0, (ll.lng / W) * 100)),
    Math.min(100, Math.max(0, (1 - ll.lat / H) * 100)),
  ];
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  function stateOf(c) {
    if (c.camera) {
      if (c.camState === "alarm") return { cls: "alarm lvl-2", text: `▲ ${tr("cat.alarm")}` };
      if (c.camState === "fault") return { cls: "fault", text: `◆ ${tr("cat.fault")}` };
      return { cls: "ok camera", text: "" };
    }
    const mine = alarms.filter(a => a.source === c.id && a.state !== "normal" && !a.shelved);
    const worst = mine.sort((x, y) => x.level - y.level)[0];
    if (worst && worst.kind === "alarm") return { cls: `alarm lvl-${worst.level}`, text: `▲ ${SB.levelWord(worst.level)}` };
    if (worst || c.quality === "bad" || c.quality === "stale") return { cls: "fault", text: `◆ ${tr("cat.fault")}` };
    return { cls: "ok", text: "" };
  }
  function label(c) {
    const s = stateOf(c);
    return {
      cls: "marker-label " + s.cls,
      html: `<span class="m-name">${esc(c.name || c.id)}</span>` +
        (c.camera ? "" : ` <b class="m-value">${esc(SB.fmtValue(c.value, c.decimals))} ${esc(c.unit || "")}</b>`) +
        (s.text ? ` <span class="m-state">${esc(s.text)}</span>` : ""),
    };
  }
  function save(id, x, y) {
    placed[id] = [x, y];
    return fetch("/api/site/positions", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ channel: id, x: Math.round(x * 100) / 100, y: Math.round(y * 100) / 100 }),
    });
  }
  function place(c) {
    const [x, y] = placed[c.id];
    const l = label(c);
    const m = L.marker(toLatLng(x, y), {
      draggable: admin, keyboard: true, title: c.name || c.id,
      icon: L.divIcon({ className: "marker-wrap", html: `<div class="${l.cls}" data-channel="${esc(c.id)}">${l.html}</div>`, iconSize: null }),
    }).addTo(map);
    m.on("dragend", () => { const [px, py] = toPercent(m.getLatLng()); save(c.id, px, py); });
    m.on("click", () => {
      location.href = c.camera ? "/cameras#" + encodeURIComponent(c.camera) : "/trend/" + encodeURIComponent(c.id);
    });
    markers.set(c.id, m);
  }
  function render() {
    const all = items();
    for (const c of map ? all : []) {
      if (placed[c.id] && !markers.has(c.id)) place(c);
      const m = markers.get(c.id);
      if (!m) continue;
      const div = m.getElement()?.querySelector(".marker-label");
      if (!div) continue;
      const l = label(c);
      if (div.className !== l.cls) div.className = l.cls;
      if (div.innerHTML !== l.html) div.innerHTML = l.html;
    }
    // the tray: every channel not on the plan
    const unplaced = all.filter(c => !placed[c.id]);
    const keep = new Set(unplaced.map(c => c.id));
    for (const chip of [...tray.children]) if (!keep.has(chip.dataset.channel)) chip.remove();
    for (const c of unplaced) {
      let chip = tray.querySelector(`[data-channel="${CSS.escape(c.id)}"]`);
      if (!chip) {
        chip = document.createElement(admin ? "button" : "span");
        chip.dataset.channel = c.id;
        if (admin) {
          chip.type = "button"; chip.draggable = true;
          chip.addEventListener("dragstart", e => e.dataTransfer.setData("text/plain", c.id));
          chip.addEventListener("click", () => {
            placing = c.id;
            document.getElementById("tray-h").textContent = tr("site.placing").replace("{name}", c.name || c.id);
          });
        }
        tray.appendChild(chip);
      }
      const l = label(c);
      chip.className = l.cls;
      if (chip.innerHTML !== l.html) chip.innerHTML = l.html;
    }
  }
  function dropAt(id, latlng) {
    const [x, y] = toPercent(latlng);
    placed[id] = [x, y];
    save(id, x, y);
    render();
  }
  const img = new Image();
  img.onload = () => {
    W = img.naturalWidth; H = img.naturalHeight;
    const bounds = [[0, 0], [H, W]];
    map = L.map(el, { crs: L.CRS.Simple, minZoom: -5, maxZoom: 4, zoomSnap: 0.25, attributionControl: false });
    L.imageOverlay(img.src, bounds, { alt: tr("site") }).addTo(map);
    map.fitBounds(bounds);
    map.setMaxBounds(L.latLngBounds(bounds).pad(0.5));
    if (admin) {
      el.addEventListener("dragover", e => e.preventDefault());
      el.addEventListener("drop", e => {
        e.preventDefault();
        const id = e.dataTransfer.getData("text/plain");
        if (id) dropAt(id, map.mouseEventToLatLng(e));
      });
      map.on("click", e => {
        if (!placing) return;
        const id = placing; placing = null;
        document.getElementById("tray-h").textContent = tr("site.unplaced");
        dropAt(id, e.latlng);
      });
    }
    window.SafetyBoxMap = { map, toLatLng, toPercent };
    document.dispatchEvent(new CustomEvent("safetybox:map", { detail: window.SafetyBoxMap }));
    render();
  };
  img.src = "/site/plan?v=" + Date.now();
  SB.on("readings", (chs) => { channels = chs; render(); });
  SB.on("alarms", (m) => { alarms = m.alarms || []; render(); });
  SB.on("cameras", (list) => { cameras = list || []; render(); });
})();
