// Live guidance while recording: is the lens covered by a lit fingertip, is it too dark or
// over-exposed, is a pulse visible (waveform and a provisional rate). Plain JavaScript and
// deliberately simple: the server's analysis of the uploaded trace is the result.

/** The server's gates (oxicam-signal analysis.rs), so the page and the report agree. */
export const LEVEL_FLOOR = 5;
export const LEVEL_CEILING = 250;
export const MAX_CLIPPED_SHARE = 0.25;
export const SCENE_GRID_SD = 20;
/** Below this level (8-bit, brightest channel) a covered lens gives too little light. */
export const DARK_RED = 20;
export const RATE_HZ = 30;
export const BAND_LOW_HZ = 0.7;
export const BAND_HIGH_HZ = 3.5;
const MIN_BPM = 40;
const MAX_BPM = 200;
/** Seconds of signal before a provisional rate is shown, and the span it is computed on. */
export const PROVISIONAL_AFTER_S = 8;
const ANALYSIS_SPAN_S = 10;
/** Normalised autocorrelation at the beat period needed to call a pulse "seen". */
const MIN_PERIODICITY = 0.5;

const CHANNELS = ["red", "green", "blue"];

function inRange(level, clippedShare) {
  return level > LEVEL_FLOOR && level < LEVEL_CEILING && !(clippedShare > MAX_CLIPPED_SHARE);
}

/**
 * What one frame shows. `state` is one of: `dark` (too little light), `uncovered` (a scene: the
 * frame is not uniform), `clipped` (no colour channel in range), `ok`. The clock runs only on
 * `ok`. `fingerColour` is false for a uniform frame that is not the red of a lit fingertip (a
 * lens on a table, the torch not covered); the server accepts such a frame only when it pulses.
 * `inRange` lists the channels usable for the pulse; fewer than two means no SpO2.
 */
export function classify(sample) {
  const [r, g, b] = sample.roi;
  const clipped = sample.clipped || [0, 0, 0];
  const channels = [0, 1, 2].filter((c) => inRange(sample.roi[c], clipped[c]));
  const fingerColour = r >= LEVEL_CEILING || r > 1.15 * Math.max(g, b);
  let state = "ok";
  if (Math.max(r, g, b) < DARK_RED) state = "dark";
  else if (!(sample.gridSd < SCENE_GRID_SD)) state = "uncovered";
  else if (channels.length === 0) state = "clipped";
  return { state, fingerColour, inRange: channels.map((c) => CHANNELS[c]), channels };
}

/** Second-order Butterworth section (RBJ cookbook, Q = 1/sqrt 2), direct form I. */
class Biquad {
  constructor(kind, cutoffHz, rateHz) {
    const w = (2 * Math.PI * cutoffHz) / rateHz, alpha = Math.sin(w) / Math.SQRT2, cos = Math.cos(w);
    const b = kind === "low"
      ? [(1 - cos) / 2, 1 - cos, (1 - cos) / 2]
      : [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2];
    const a0 = 1 + alpha;
    this.b = b.map((v) => v / a0);
    this.a = [(-2 * cos) / a0, (1 - alpha) / a0];
  }

  run(xs) {
    const [b0, b1, b2] = this.b, [a1, a2] = this.a;
    let x1 = 0, x2 = 0, y1 = 0, y2 = 0;
    return xs.map((x) => {
      const y = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
      x2 = x1; x1 = x; y2 = y1; y1 = y;
      return y;
    });
  }
}

/** Linear interpolation of (times, values) onto a regular grid at `rate` from `start` to `end`. */
export function resample(times, values, rate, start, end) {
  const out = [];
  const n = Math.floor((end - start) * rate + 1e-9) + 1;
  let j = 0;
  for (let i = 0; i < n; i++) {
    const t = start + i / rate;
    while (j + 1 < times.length && times[j + 1] <= t) j++;
    if (j + 1 >= times.length || t <= times[j]) {
      out.push(values[j]);
      continue;
    }
    const f = (t - times[j]) / (times[j + 1] - times[j]);
    out.push(values[j] + f * (values[j + 1] - values[j]));
  }
  return out;
}

/**
 * Relative band-passed pulse (AC/DC) of a regularly sampled channel. The input is made
 * zero-mean first, so the filters start from rest without a step.
 */
export function bandpass(xs, rate) {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length || 1;
  const rel = xs.map((x) => x / mean - 1);
  const high = new Biquad("high", BAND_LOW_HZ, rate), high2 = new Biquad("high", BAND_LOW_HZ, rate);
  const low = new Biquad("low", BAND_HIGH_HZ, rate);
  return low.run(high2.run(high.run(rel)));
}

/**
 * Beat rate from the normalised autocorrelation: the highest peak between the lags of 200 and
 * 40 bpm, refined by a parabola. `periodicity` (0-1) says how clearly the signal repeats.
 */
export function autocorrelationRate(xs, rate) {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const d = xs.map((x) => x - mean);
  const energy = d.reduce((a, v) => a + v * v, 0);
  if (!(energy > 0)) return null;
  const minLag = Math.floor((60 * rate) / MAX_BPM), maxLag = Math.min(n - 2, Math.ceil((60 * rate) / MIN_BPM));
  const r = new Array(maxLag + 2).fill(0);
  for (let lag = minLag - 1; lag <= maxLag + 1; lag++) {
    let s = 0;
    for (let i = 0; i + lag < n; i++) s += d[i] * d[i + lag];
    r[lag] = s / energy;
  }
  let best = -1;
  for (let lag = minLag; lag <= maxLag; lag++) {
    if (r[lag] > r[lag - 1] && r[lag] >= r[lag + 1] && (best < 0 || r[lag] > r[best])) best = lag;
  }
  if (best < 0) return null;
  const [a, b, c] = [r[best - 1], r[best], r[best + 1]];
  const denom = a - 2 * b + c;
  const delta = Math.abs(denom) > 1e-12 ? Math.max(-0.5, Math.min(0.5, (0.5 * (a - c)) / denom)) : 0;
  return { bpm: (60 * rate) / (best + delta), periodicity: b };
}

/**
 * The live pulse of the last seconds of a recording: the band-passed wave of the channel that
 * repeats most clearly, and a provisional rate once `PROVISIONAL_AFTER_S` seconds are in.
 */
export function livePulse(samples, recordedS) {
  if (samples.length < RATE_HZ * 4) return null;
  const end = samples[samples.length - 1].t;
  const start = Math.max(samples[0].t, end - ANALYSIS_SPAN_S);
  const first = samples.findIndex((s) => s.t >= start - 1 / RATE_HZ);
  const recent = samples.slice(Math.max(0, first));
  const times = recent.map((s) => s.t);
  const last = recent[recent.length - 1];
  const channels = classify(last).channels;
  let best = null;
  for (const c of channels.length ? channels : [0, 1, 2]) {
    const xs = resample(times, recent.map((s) => s.roi[c]), RATE_HZ, start, end);
    const wave = bandpass(xs, RATE_HZ);
    // The filters start from rest each time and settle in about two seconds: judge and show
    // what comes after.
    const settled = wave.slice(2 * RATE_HZ);
    const found = settled.length > RATE_HZ * 2 ? autocorrelationRate(settled, RATE_HZ) : null;
    const score = found ? found.periodicity : -1;
    if (!best || score > best.score) best = { channel: CHANNELS[c], wave: settled.map((v) => -v), found, score };
  }
  const seen = best.found && best.found.periodicity >= MIN_PERIODICITY;
  return {
    channel: best.channel,
    wave: best.wave,
    periodicity: best.found ? best.found.periodicity : 0,
    pulseSeen: Boolean(seen),
    provisionalBpm: seen && recordedS >= PROVISIONAL_AFTER_S ? best.found.bpm : null,
  };
}

/**
 * Frames missing from a run of capture times: the frames the span holds at the typical (median)
 * interval, less those received. A late frame followed by an early one (jitter) cancels out.
 */
export function droppedFrames(times) {
  if (times.length < 3) return 0;
  const gaps = [];
  for (let i = 1; i < times.length; i++) gaps.push(times[i] - times[i - 1]);
  const typical = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)];
  if (!(typical > 0)) return 0;
  const expected = Math.round((times[times.length - 1] - times[0]) / typical) + 1;
  return Math.max(0, expected - times.length);
}
