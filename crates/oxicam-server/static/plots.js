// Plots of the page: the pulse wave and the per-window series of a report, and the live wave
// drawn while recording. Canvas 2D, sized for the device pixel ratio.

function prepare(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(w * ratio);
  canvas.height = Math.round(h * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px system-ui, sans-serif";
  return { ctx, w, h };
}

/** A wave scaled to fill the canvas inside `pad`. */
function strokeWave(ctx, ys, w, h, pad) {
  let lo = Infinity, hi = -Infinity;
  for (const y of ys) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
  const span = hi - lo || 1;
  ctx.strokeStyle = "#9b1c2c";
  ctx.lineWidth = 1.6;
  ctx.beginPath();
  ys.forEach((y, i) => {
    const px = pad + (i / Math.max(1, ys.length - 1)) * (w - 2 * pad);
    const py = h - pad - ((y - lo) / span) * (h - 2 * pad);
    if (i) ctx.lineTo(px, py); else ctx.moveTo(px, py);
  });
  ctx.stroke();
}

export function drawWave(canvas, wave) {
  const { ctx, w, h } = prepare(canvas);
  // Show the last 10 s at most so single beats stay visible on a phone.
  const n = wave.samples.length, keep = Math.min(n, Math.round(10 * wave.rate_hz));
  const pad = 8;
  strokeWave(ctx, wave.samples.slice(n - keep), w, h, pad);
  ctx.fillStyle = "#5f6368";
  const t0 = (wave.start_s || 0) + (n - keep) / wave.rate_hz;
  ctx.fillText(t0.toFixed(0) + " s", pad, h - 2);
  ctx.fillText((t0 + keep / wave.rate_hz).toFixed(0) + " s", w - pad - 24, h - 2);
}

export function drawSeries(canvas, windows) {
  const { ctx, w, h } = prepare(canvas);
  const left = 34, right = 34, top = 8, bottom = 18;
  const t0 = Math.min(...windows.map((x) => x.start_s)), t1 = Math.max(...windows.map((x) => x.end_s));
  const mid = (x) => (x.start_s + x.end_s) / 2;
  const px = (t) => left + ((t - t0) / (t1 - t0 || 1)) * (w - left - right);
  const range = (vals, minSpan) => {
    if (!vals.length) return [0, 1];
    let lo = Math.min(...vals), hi = Math.max(...vals);
    if (hi - lo < minSpan) { const c = (hi + lo) / 2; lo = c - minSpan / 2; hi = c + minSpan / 2; }
    return [lo, hi];
  };
  const hrs = windows.filter((x) => x.heart_rate_bpm != null).map((x) => x.heart_rate_bpm);
  const sps = windows.filter((x) => x.spo2_percent != null).map((x) => x.spo2_percent);
  const [hrLo, hrHi] = range(hrs, 20), [spLo, spHi] = range(sps, 6);
  const py = (v, lo, hi) => h - bottom - ((v - lo) / (hi - lo)) * (h - top - bottom);
  ctx.fillStyle = "#ececef";
  windows.filter((x) => !x.usable).forEach((x) => ctx.fillRect(px(x.start_s), top, Math.max(1, px(x.end_s) - px(x.start_s)), h - top - bottom));
  const line = (key, lo, hi, color) => {
    ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 1.8;
    ctx.beginPath();
    let started = false;
    windows.forEach((x) => {
      const v = x[key];
      if (v == null || !x.usable) { started = false; return; }
      const X = px(mid(x)), Y = py(v, lo, hi);
      if (started) ctx.lineTo(X, Y); else ctx.moveTo(X, Y);
      started = true;
    });
    ctx.stroke();
    windows.forEach((x) => { if (x[key] != null && x.usable) { ctx.beginPath(); ctx.arc(px(mid(x)), py(x[key], lo, hi), 2.2, 0, 7); ctx.fill(); } });
  };
  line("heart_rate_bpm", hrLo, hrHi, "#9b1c2c");
  line("spo2_percent", spLo, spHi, "#1f5fbf");
  ctx.fillStyle = "#9b1c2c";
  ctx.fillText(hrHi.toFixed(0), 2, top + 9); ctx.fillText(hrLo.toFixed(0), 2, h - bottom);
  ctx.fillStyle = "#1f5fbf";
  ctx.fillText(spHi.toFixed(0), w - right + 6, top + 9); ctx.fillText(spLo.toFixed(0), w - right + 6, h - bottom);
  ctx.fillStyle = "#5f6368";
  ctx.fillText(t0.toFixed(0) + " s", left, h - 4);
  ctx.fillText(t1.toFixed(0) + " s", w - right - 22, h - 4);
}

/** The live band-passed wave while recording: last seconds, scaled to fit. */
export function drawLiveWave(canvas, samples, rateHz) {
  const { ctx, w, h } = prepare(canvas);
  if (!samples || samples.length < 2) return;
  strokeWave(ctx, samples.slice(Math.max(0, samples.length - Math.round(6 * rateHz))), w, h, 4);
}
