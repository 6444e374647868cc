// Worker side of the WebCodecs extractor: reads camera VideoFrames (a transferred
// MediaStreamTrackProcessor stream, or a transferred track where only workers have the
// processor, as in Safari), copies the planes out and posts one statistics sample per frame.

import { FrameStats, conversionOf, rgbLayout, yuvLayout } from "./framestats.js";

const stats = new FrameStats();
let buffer = null;
let reader = null;
let canvas = null;

self.onmessage = (event) => {
  const message = event.data;
  if (message.type === "probe") {
    self.postMessage({ type: "probe", processor: typeof self.MediaStreamTrackProcessor === "function" });
  } else if (message.type === "start") {
    start(message).catch((e) => self.postMessage({ type: "error", message: String(e && e.message || e) }));
  } else if (message.type === "stop") {
    if (reader) reader.cancel().catch(() => {});
  }
};

async function start({ readable, track, maxBufferSize }) {
  const stream = readable || new self.MediaStreamTrackProcessor({ track, maxBufferSize }).readable;
  reader = stream.getReader();
  let described = false;
  for (;;) {
    const { value: frame, done } = await reader.read();
    if (done) break;
    try {
      const started = performance.now();
      const sample = await measure(frame);
      const ms = performance.now() - started;
      if (!described) {
        described = true;
        self.postMessage({
          type: "info", format: frame.format, width: sample.width, height: sample.height,
          colorSpace: describeColorSpace(frame.colorSpace), path: sample.path,
        });
      }
      self.postMessage({
        type: "frame", t: frame.timestamp / 1e6, roi: sample.roi, full: sample.full,
        clipped: sample.clipped, gridSd: sample.gridSd, ms,
      });
    } finally {
      frame.close();
    }
  }
  if (track) track.stop();
  self.postMessage({ type: "end" });
}

function describeColorSpace(cs) {
  if (!cs) return null;
  return { matrix: cs.matrix, fullRange: cs.fullRange, primaries: cs.primaries, transfer: cs.transfer };
}

function bufferOf(size) {
  if (!buffer || buffer.byteLength < size) buffer = new Uint8Array(size);
  return buffer;
}

/** Statistics of one frame from its own planes; frames in other formats drawn to a canvas. */
async function measure(frame) {
  const width = frame.visibleRect.width, height = frame.visibleRect.height;
  const yuv = yuvLayout(frame.format), rgb = rgbLayout(frame.format);
  if (yuv || rgb) {
    const data = bufferOf(frame.allocationSize());
    const planes = await frame.copyTo(data);
    const result = yuv
      ? stats.yuv(data, planes, width, height, yuv, conversionOf(frame.colorSpace))
      : stats.rgba(data, planes[0].offset, planes[0].stride, width, height, rgb);
    return { ...result, width, height, path: yuv ? "planes" : "rgb-frame" };
  }
  // Opaque (GPU) frames: let the browser convert.
  if (!canvas || canvas.width !== width || canvas.height !== height) {
    canvas = new OffscreenCanvas(width, height);
  }
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(frame, 0, 0, width, height);
  const image = ctx.getImageData(0, 0, width, height);
  return { ...stats.rgba(image.data, 0, 4 * width, width, height), width, height, path: "canvas" };
}
