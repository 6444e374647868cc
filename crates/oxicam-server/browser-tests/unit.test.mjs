// Unit tests of the page's pure modules in Node (no browser): frame statistics against a
// per-pixel reference, the trace encoding round trip, the live pulse rate, dropped frames.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  FrameStats, centralRegion, coefficients, conversionOf, rgbOfYuv, yuvLayout,
} from "../static/framestats.js";
import { autocorrelationRate, classify, droppedFrames, livePulse } from "../static/pulse.js";
import { decodeTrace, encodeTrace, STEPS } from "../static/traceformat.js";

function randomPlane(length, seed, lo, hi) {
  let state = seed >>> 0;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    out[i] = lo + (state % (hi - lo));
  }
  return out;
}

/** Every pixel converted to RGB on its own (chroma replicated), then averaged and counted. */
function perPixelReference(w, h, y, u, v, conv) {
  const c = coefficients(conv);
  const region = centralRegion(w, h, 1, 1);
  const sum = [0, 0, 0], clip = [0, 0, 0], full = [0, 0, 0];
  for (let yy = 0; yy < h; yy++) {
    for (let xx = 0; xx < w; xx++) {
      const ci = (yy >> 1) * (w >> 1) + (xx >> 1);
      rgbOfYuv(c, y[yy * w + xx], u[ci], v[ci]).forEach((value, k) => { full[k] += value; });
    }
  }
  let n = 0;
  for (let yy = region.y0; yy < region.y1; yy++) {
    for (let xx = region.x0; xx < region.x1; xx++) {
      const ci = (yy >> 1) * (w >> 1) + (xx >> 1);
      const rgb = rgbOfYuv(c, y[yy * w + xx], u[ci], v[ci]);
      rgb.forEach((value, k) => { sum[k] += value; });
      clip[0] += rgb[0] >= 250; clip[1] += rgb[1] <= 5; clip[2] += rgb[2] <= 5;
      n++;
    }
  }
  return { rgb: sum.map((s) => s / n), clip: clip.map((k) => k / n), full: full.map((s) => s / (w * h)) };
}

test("YUV statistics match a per-pixel conversion, for I420 and NV12 layouts", () => {
  const w = 64, h = 48;
  const y = randomPlane(w * h, 7, 16, 236), u = randomPlane((w * h) / 4, 11, 16, 241), v = randomPlane((w * h) / 4, 13, 16, 241);
  for (const colorSpace of [null, { matrix: "bt709", fullRange: false }, { matrix: "bt709", fullRange: true }]) {
    const conv = conversionOf(colorSpace);
    const want = perPixelReference(w, h, y, u, v, conv);
    assert.ok(want.clip.every((f) => f > 0), "random planes clip some pixels");
    const i420 = new Uint8Array(w * h * 1.5);
    i420.set(y, 0); i420.set(u, w * h); i420.set(v, w * h * 1.25);
    const planesI420 = [{ offset: 0, stride: w }, { offset: w * h, stride: w / 2 }, { offset: w * h * 1.25, stride: w / 2 }];
    const nv12 = new Uint8Array(w * h * 1.5);
    nv12.set(y, 0);
    for (let i = 0; i < u.length; i++) { nv12[w * h + 2 * i] = u[i]; nv12[w * h + 2 * i + 1] = v[i]; }
    const planesNv12 = [{ offset: 0, stride: w }, { offset: w * h, stride: w }];
    const stats = new FrameStats();
    for (const [data, planes, format] of [[i420, planesI420, "I420"], [nv12, planesNv12, "NV12"]]) {
      const got = stats.yuv(data, planes, w, h, yuvLayout(format), conv);
      for (let k = 0; k < 3; k++) {
        assert.ok(Math.abs(got.roi[k] - want.rgb[k]) < 1e-9, `${format} ${JSON.stringify(colorSpace)} channel ${k}`);
        assert.ok(Math.abs(got.full[k] - want.full[k]) < 1e-9, `${format} whole frame, channel ${k}`);
        assert.ok(Math.abs(got.clipped[k] - want.clip[k]) < 1e-12, `${format} clip ${k}: ${got.clipped[k]} vs ${want.clip[k]}`);
      }
    }
  }
});

test("RGBA statistics of a BT.601 picture agree with the YUV ones", () => {
  const w = 32, h = 24, conv = conversionOf(null), c = coefficients(conv);
  const y = randomPlane(w * h, 3, 60, 200), u = new Uint8Array((w * h) / 4).fill(110), v = new Uint8Array((w * h) / 4).fill(170);
  const data = new Uint8Array(w * h * 1.5);
  data.set(y, 0); data.set(u, w * h); data.set(v, w * h * 1.25);
  const yuv = new FrameStats().yuv(data, [{ offset: 0, stride: w }, { offset: w * h, stride: w / 2 }, { offset: w * h * 1.25, stride: w / 2 }],
    w, h, yuvLayout("I420"), conv);
  // The same picture as unrounded RGB floats (what a browser's conversion approximates).
  const rgba = new Float64Array(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    rgba.set(rgbOfYuv(c, y[i], 110, 170), 4 * i);
    rgba[4 * i + 3] = 255;
  }
  const rgb = new FrameStats().rgba(rgba, 0, 4 * w, w, h);
  for (let k = 0; k < 3; k++) {
    assert.ok(Math.abs(rgb.roi[k] - yuv.roi[k]) < 1e-9, `roi ${k}`);
    assert.ok(Math.abs(rgb.full[k] - yuv.full[k]) < 1e-9, `full ${k}`);
  }
  assert.ok(Math.abs(rgb.gridSd - yuv.gridSd) < 1e-9, `grid SD ${rgb.gridSd} vs ${yuv.gridSd}`);
  assert.ok(yuv.gridSd > 1, "a random picture is not uniform");
});

function fingerSamples(seconds, rate, bpm, { jitter = 0, start = 12.5 } = {}) {
  const out = [];
  let state = 1;
  for (let i = 0; i <= seconds * rate; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const t = start + i / rate + jitter * (state / 2147483648 - 0.5) / rate;
    const beat = Math.sin((2 * Math.PI * bpm * t) / 60);
    out.push({
      t, roi: [200 - 0.8 * beat, 60 - 0.5 * beat, 30 - 0.2 * beat], full: [190, 55, 28],
      clipped: [0.01, 0, 0.002], gridSd: 4 + 0.01 * i,
    });
  }
  return out;
}

test("the trace encoding round-trips within its fixed-point steps and stays compact", () => {
  const samples = fingerSamples(30, 30, 72, { jitter: 0.2 });
  const body = encodeTrace(samples, { extractor: "test" });
  const back = decodeTrace(JSON.parse(JSON.stringify(body)));
  assert.equal(back.length, samples.length);
  back.forEach((s, i) => {
    assert.ok(Math.abs(s.t - (samples[i].t - samples[0].t)) <= STEPS.t / 2 + 1e-12);
    for (let k = 0; k < 3; k++) {
      assert.ok(Math.abs(s.roi[k] - samples[i].roi[k]) <= STEPS.rgb / 2 + 1e-9);
      assert.ok(Math.abs(s.clipped[k] - samples[i].clipped[k]) <= STEPS.clipped / 2 + 1e-12);
    }
    assert.ok(Math.abs(s.gridSd - samples[i].gridSd) <= STEPS.gridSd / 2 + 1e-9);
  });
  const bytes = JSON.stringify(body).length;
  assert.ok(bytes < 100_000, `30 s at 30 fps is ${bytes} bytes`);
});

test("the live rate finds a known pulse and the classifier tells a finger from a scene", () => {
  for (const bpm of [48, 72, 110, 160]) {
    const samples = fingerSamples(10, 30, bpm, { jitter: 0.3 });
    const pulse = livePulse(samples, 10);
    assert.ok(pulse.pulseSeen, `${bpm} bpm seen (periodicity ${pulse.periodicity})`);
    assert.ok(Math.abs(pulse.provisionalBpm - bpm) < 2, `${pulse.provisionalBpm} vs ${bpm}`);
    assert.equal(livePulse(samples, 5).provisionalBpm, null, "no rate before 8 s");
  }
  const flat = fingerSamples(10, 30, 72).map((s) => ({ ...s, roi: [200, 60, 30] }));
  assert.equal(autocorrelationRate(flat.map((s) => s.roi[0]), 30), null, "a flat signal has no rate");
  assert.equal(classify({ roi: [180, 50, 30], clipped: [0, 0, 0], gridSd: 3 }).state, "ok");
  assert.equal(classify({ roi: [120, 118, 110], clipped: [0, 0, 0], gridSd: 40 }).state, "uncovered");
  const grey = classify({ roi: [120, 118, 110], clipped: [0, 0, 0], gridSd: 3 });
  assert.equal(grey.state, "ok", "uniform: the clock may run");
  assert.equal(grey.fingerColour, false, "but grey is not a lit fingertip");
  assert.equal(classify({ roi: [180, 50, 30], clipped: [0, 0, 0], gridSd: 3 }).fingerColour, true);
  assert.equal(classify({ roi: [12, 3, 2], clipped: [0, 1, 1], gridSd: 1 }).state, "dark");
  assert.equal(classify({ roi: [255, 252, 251], clipped: [1, 0, 0], gridSd: 1 }).state, "clipped");
  assert.deepEqual(classify({ roi: [255, 60, 3], clipped: [0.9, 0, 0.8], gridSd: 2 }).inRange, ["green"]);
});

test("dropped frames are counted from the capture times", () => {
  const times = Array.from({ length: 300 }, (_, i) => i / 30);
  assert.equal(droppedFrames(times), 0);
  const missing = times.filter((_, i) => i !== 100 && i !== 200 && i !== 201);
  assert.equal(droppedFrames(missing), 3);
  const jittery = times.map((t, i) => t + (i % 2 ? 0.012 : 0));
  assert.equal(droppedFrames(jittery), 0, "jitter is not a drop");
  const late = times.map((t, i) => t + (i === 50 ? 0.03 : 0));
  assert.equal(droppedFrames(late), 0, "a late frame is not a drop");
});
