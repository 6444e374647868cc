// The body of `POST /v1/traces` (schema `TraceUpload` in /openapi.json): column arrays of
// fixed-point integers, delta-encoded (each entry is the change from the previous value), so a
// 30 s trace at 30 fps is a few tens of kilobytes of JSON.

/** Fixed-point steps of the delta encoding, as the server reads them. */
export const STEPS = {
  t: 1e-4, // seconds
  rgb: 1e-3, // 8-bit colour scale
  clipped: 1e-4, // fraction of pixels
  gridSd: 1e-2, // 8-bit luma scale
};

function deltas(values, step) {
  let previous = 0;
  return values.map((v) => {
    const q = Math.round(v / step);
    const d = q - previous;
    previous = q;
    return d;
  });
}

/**
 * Encodes samples `{t, roi, full, clipped, gridSd}` (t in seconds, any origin) with `device`
 * hints (free-form strings and numbers about the camera and browser).
 */
export function encodeTrace(samples, device) {
  const t0 = samples.length ? samples[0].t : 0;
  const column = (pick, step) => deltas(samples.map(pick), step);
  const rgb = (key) => [0, 1, 2].map((c) => column((s) => s[key][c], STEPS.rgb));
  const body = {
    encoding: "delta",
    t: column((s) => s.t - t0, STEPS.t),
    roi_rgb: rgb("roi"),
    full_rgb: rgb("full"),
  };
  if (samples.every((s) => s.clipped)) {
    body.clipped_fraction = [0, 1, 2].map((c) => column((s) => s.clipped[c], STEPS.clipped));
  }
  if (samples.every((s) => Number.isFinite(s.gridSd))) {
    body.luma_grid_sd = column((s) => s.gridSd, STEPS.gridSd);
  }
  if (device) body.device = device;
  return body;
}

/** The inverse, for tests and tools: samples with t from 0. */
export function decodeTrace(body) {
  const sum = (ds, step) => {
    let acc = 0;
    return ds.map((d) => (acc += d) * step);
  };
  const plain = body.encoding === "plain";
  const col = (ds, step) => (plain ? ds : sum(ds, step));
  const t = col(body.t, STEPS.t);
  const roi = body.roi_rgb.map((c) => col(c, STEPS.rgb));
  const full = body.full_rgb.map((c) => col(c, STEPS.rgb));
  const clipped = body.clipped_fraction && body.clipped_fraction.map((c) => col(c, STEPS.clipped));
  const grid = body.luma_grid_sd && col(body.luma_grid_sd, STEPS.gridSd);
  return t.map((ti, i) => ({
    t: ti,
    roi: roi.map((c) => c[i]),
    full: full.map((c) => c[i]),
    clipped: clipped ? clipped.map((c) => c[i]) : null,
    gridSd: grid ? grid[i] : null,
  }));
}
