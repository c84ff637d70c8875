// Trend chart (uPlot, vendored): the chosen range on a real time axis, gaps as gaps (null
// breaks the line; undefined only means "this series has no point at that instant"), threshold
// lines, several channels (one axis per unit), drag to zoom, hover readout, live extension
// from the push channel, and the width of its container (a phone too).
"use strict";
(function () {
  const SB = window.SafetyBox, tr = SB.tr;
  const el = document.getElementById("chart");
  const status = document.getElementById("chart-status");
  if (!el || !window.uPlot) return;
  const range = el.dataset.range, ids = el.dataset.channels.split(",").filter(Boolean);
  const COLOURS = ["#0d47a1", "#6a1b9a", "#00695c", "#ef6c00", "#37474f"];
  let plot = null, zoomed = false, spanS = 3600, meta = [], xs = [], ys = [], liveLast = {};

  function xRange() { const now = Date.now() / 1000; return [now - spanS, now]; }

  async function load() {
    const got = await Promise.all(ids.map(id =>
      fetch(`/api/trend/${encodeURIComponent(id)}?range=${encodeURIComponent(range)}`, { credentials: "same-origin" })
        .then(r => r.ok ? r.json() : Promise.reject(new Error(r.status)))));
    spanS = got[0].span_ms / 1000;
    meta = got.map((g, i) => ({ id: ids[i], unit: g.unit || "", thresholds: g.thresholds || {}, bucket: g.bucket_ms / 1000 }));
    // One x array for all series: the union of the bucket times, plus a null just after every
    // hole longer than 1.5 buckets, so the line breaks there instead of bridging it.
    const perSeries = got.map((g, i) => {
      const pts = new Map();
      let prev = null;
      for (const p of g.points) {
        const t = p.t / 1000;
        if (prev !== null && t - prev > 1.5 * meta[i].bucket) pts.set(prev + meta[i].bucket, null);
        pts.set(t, p.mean);
        prev = t;
      }
      return pts;
    });
    const all = new Set();
    perSeries.forEach(m => m.forEach((_, t) => all.add(t)));
    xs = [...all].sort((a, b) => a - b);
    ys = perSeries.map(m => xs.map(t => (m.has(t) ? m.get(t) : undefined)));
    if (!xs.length) status.textContent = tr("trend.no_data");
    draw();
  }

  function thresholdsHook(u) {
    const ctx = u.ctx;
    meta.forEach((m, i) => {
      const scale = "u" + m.unit;
      for (const [name, at] of Object.entries(m.thresholds)) {
        const y = u.valToPos(at, scale, true);
        if (!isFinite(y)) continue;
        ctx.save();
        ctx.strokeStyle = "#c62828"; ctx.setLineDash([6, 4]); ctx.lineWidth = 1.5 * devicePixelRatio;
        ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
        ctx.fillStyle = "#c62828"; ctx.font = `${12 * devicePixelRatio}px system-ui`;
        ctx.fillText(`${ids.length > 1 ? m.id + " " : ""}${name} ${at}`, u.bbox.left + 4, y - 4);
        ctx.restore();
      }
    });
  }

  function draw() {
    const units = [...new Set(meta.map(m => m.unit))];
    const scales = { x: { time: true } };
    for (const u of units) {
      const th = meta.filter(m => m.unit === u).flatMap(m => Object.values(m.thresholds));
      scales["u" + u] = {
        range: (self, min, max) => {
          const lo = Math.min(min ?? Infinity, ...th), hi = Math.max(max ?? -Infinity, ...th);
          if (!isFinite(lo) || !isFinite(hi)) return [0, 1];
          const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
          return [lo - pad, hi + pad];
        },
      };
    }
    const opts = {
      width: Math.max(280, el.clientWidth), height: Math.max(220, Math.min(420, window.innerHeight * 0.5)),
      scales,
      series: [
        { label: tr("trend.time"), value: (u, v) => (v == null ? "—" : SB.fmtTime(v)) },
        ...meta.map((m, i) => ({
          label: `${m.id}${m.unit ? " (" + m.unit + ")" : ""}`, scale: "u" + m.unit,
          stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: false,
          value: (u, v) => (v == null ? "—" : `${v.toFixed(2)} ${m.unit}`),
        })),
      ],
      axes: [
        { stroke: getComputedStyle(document.body).color },
        ...units.map((u, i) => ({ scale: "u" + u, label: u, side: i ? 1 : 3, grid: { show: i === 0 }, size: 60 })),
      ],
      cursor: { drag: { x: true, y: false } },
      hooks: {
        draw: [thresholdsHook],
        setSelect: [() => { zoomed = true; }],
      },
    };
    if (plot) plot.destroy();
    plot = new uPlot(opts, [xs, ...ys], el);
    el.plot = plot;  // for the browser tests (and a curious technician's console)
    plot.over.addEventListener("dblclick", () => { zoomed = false; setRange(); });
    setRange();
  }
  function setRange() {
    if (!plot || zoomed) return;
    const [min, max] = xRange();
    plot.setScale("x", { min, max });
  }

  // Live: each new reading of a shown channel extends its line; a stale or bad one breaks it.
  SB.on("readings", (chs) => {
    if (!plot) return;
    let changed = false;
    for (const c of chs) {
      const i = ids.indexOf(c.id);
      if (i < 0 || c.ts_ms == null) continue;
      const t = c.ts_ms / 1000;
      if (liveLast[c.id] !== undefined && t <= liveLast[c.id]) continue;
      if (xs.length && t <= xs[xs.length - 1]) continue;
      liveLast[c.id] = t;
      const ok = c.quality === "good" || c.quality === "uncertain";
      xs.push(t);
      ys.forEach((arr, j) => arr.push(j === i ? (ok ? c.value : null) : undefined));
      changed = true;
    }
    if (!changed) return;
    const cut = Date.now() / 1000 - spanS * 1.1;  // drop what slid out of the range
    while (xs.length && xs[0] < cut) { xs.shift(); ys.forEach(a => a.shift()); }
    plot.setData([xs, ...ys], false);
    setRange();
    if (zoomed) plot.redraw();
  });
  new ResizeObserver(() => { if (plot) plot.setSize({ width: Math.max(280, el.clientWidth), height: plot.height }); }).observe(el);
  load().catch(e => { status.textContent = e.message; });
})();
