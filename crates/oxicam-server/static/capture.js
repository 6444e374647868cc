// The camera side of a measurement: open the rear camera, switch the torch on and lock
// exposure and white balance where the browser lets a page do so, and turn every frame into a
// statistics sample with its capture time, by the best path this browser has (feature-detected):
//   webcodecs        MediaStreamTrackProcessor in this thread, frames read in a worker (Chrome)
//   webcodecs-worker the track handed to a worker that has the processor (Safari 18+)
//   frame-callback   requestVideoFrameCallback, frames drawn to a canvas (older Safari, Firefox)

import { FrameStats } from "./framestats.js";

export const VIDEO_CONSTRAINTS = {
  facingMode: { ideal: "environment" },
  width: { ideal: 640 },
  height: { ideal: 480 },
  frameRate: { ideal: 30 },
};
/**
 * Frames the processor may hold while the worker is busy (a stall of up to ~0.2 s at 30 fps is
 * caught up instead of dropped); few enough not to starve the camera's buffer pool.
 */
const FRAME_QUEUE = 6;
/** The canvas path reads at most this many pixels per frame (about 640 x 480). */
const MAX_CANVAS_PIXELS = 640 * 480;

export function cameraAvailable() {
  return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
}

export function openCamera() {
  return navigator.mediaDevices.getUserMedia({ audio: false, video: VIDEO_CONSTRAINTS });
}

/** A sentence for a getUserMedia failure. */
export function cameraErrorMessage(error) {
  switch (error && error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera permission was refused. Allow the camera for this site in the browser's " +
        "settings and try again, or choose a video file.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No suitable camera was found on this device. Choose a video file instead.";
    case "NotReadableError":
      return "The camera is in use by another app or tab. Close it and try again.";
    default:
      return `The camera could not be opened (${error && error.name}). Choose a video file instead.`;
  }
}

/**
 * Torch, exposure and white balance of a camera track, as far as the browser exposes them
 * (Image Capture constraints; Chrome on Android has them, most desktop and iOS browsers not).
 * Every applyConstraints call repeats the whole set, since a call replaces earlier ones.
 */
export class CameraControls {
  constructor(track) {
    this.track = track;
    this.caps = (track.getCapabilities && track.getCapabilities()) || {};
    this.torch = false;
    this.exposureLocked = false;
    this.whiteBalanceLocked = false;
    this.advanced = {};
  }

  get canTorch() { return this.caps.torch === true || Array.isArray(this.caps.torch) && this.caps.torch.includes(true); }
  get canLockExposure() { return (this.caps.exposureMode || []).includes("manual"); }
  get canLockWhiteBalance() { return (this.caps.whiteBalanceMode || []).includes("manual"); }

  async apply(extra) {
    const advanced = { ...this.advanced, ...extra };
    await this.track.applyConstraints({ ...VIDEO_CONSTRAINTS, advanced: [advanced] });
    this.advanced = advanced;
  }

  async torchOn() {
    if (!this.canTorch) return false;
    try {
      await this.apply({ torch: true });
      const settings = this.track.getSettings();
      this.torch = settings.torch !== false;
    } catch (e) {
      this.torch = false;
    }
    return this.torch;
  }

  /** Freezes exposure and white balance at their current (settled) values, where possible. */
  async lock() {
    const settings = this.track.getSettings();
    const freeze = async (can, locked, mode, value) => {
      if (!can || locked) return locked;
      const extra = { [mode]: "manual" };
      if (Number.isFinite(settings[value])) extra[value] = settings[value];
      try {
        await this.apply(extra);
        return true;
      } catch (e) {
        return false;
      }
    };
    this.exposureLocked = await freeze(this.canLockExposure, this.exposureLocked, "exposureMode", "exposureTime");
    this.whiteBalanceLocked = await freeze(this.canLockWhiteBalance, this.whiteBalanceLocked,
      "whiteBalanceMode", "colorTemperature");
  }

  /** Back to automatic exposure and white balance (the finger came off: light changes). */
  async unlock() {
    if (!this.exposureLocked && !this.whiteBalanceLocked) return;
    const extra = {};
    if (this.exposureLocked) extra.exposureMode = "continuous";
    if (this.whiteBalanceLocked) extra.whiteBalanceMode = "continuous";
    delete this.advanced.exposureTime;
    delete this.advanced.colorTemperature;
    try { await this.apply(extra); } catch (e) { /* stays locked: harmless */ }
    this.exposureLocked = false;
    this.whiteBalanceLocked = false;
  }

  /** What the page could do, for the hints sent with the trace. */
  hints() {
    return {
      torch: this.torch,
      exposure_locked: this.exposureLocked,
      white_balance_locked: this.whiteBalanceLocked,
    };
  }
}

function workerUrl() {
  return new URL("./trace-worker.js", import.meta.url);
}

/** Asks a fresh worker whether it has MediaStreamTrackProcessor (Safari has it only there). */
function probeWorker(worker) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 2000);
    worker.addEventListener("message", function onProbe(event) {
      if (event.data.type !== "probe") return;
      worker.removeEventListener("message", onProbe);
      clearTimeout(timer);
      resolve(event.data.processor);
    });
    worker.postMessage({ type: "probe" });
  });
}

/** Extractor running in a worker; `handlers` get samples, a description and errors. */
function workerExtractor(worker, kind, handlers, cleanup) {
  worker.onmessage = (event) => {
    const m = event.data;
    if (m.type === "frame") handlers.sample({ t: m.t, roi: m.roi, full: m.full, clipped: m.clipped, gridSd: m.gridSd, ms: m.ms });
    else if (m.type === "info") handlers.info({ kind, ...m });
    else if (m.type === "error") handlers.error(m.message);
  };
  worker.onerror = (event) => handlers.error(event.message || "frame worker failed");
  return {
    kind,
    missedFrames: () => 0,
    stop() {
      worker.postMessage({ type: "stop" });
      setTimeout(() => worker.terminate(), 500);
      if (cleanup) cleanup();
    },
  };
}

async function webCodecsExtractor(track, handlers) {
  if (typeof Worker !== "function" || typeof VideoFrame !== "function") return null;
  if (typeof MediaStreamTrackProcessor === "function") {
    const worker = new Worker(workerUrl(), { type: "module" });
    try {
      const { readable } = new MediaStreamTrackProcessor({ track, maxBufferSize: FRAME_QUEUE });
      worker.postMessage({ type: "start", readable }, [readable]);
      return workerExtractor(worker, "webcodecs", handlers);
    } catch (e) {
      worker.terminate();
    }
  }
  const worker = new Worker(workerUrl(), { type: "module" });
  if (!(await probeWorker(worker))) {
    worker.terminate();
    return null;
  }
  // The worker gets its own clone: this thread keeps the track for the preview and controls.
  const clone = track.clone();
  try {
    worker.postMessage({ type: "start", track: clone, maxBufferSize: FRAME_QUEUE }, [clone]);
  } catch (e) {
    clone.stop();
    worker.terminate();
    return null;
  }
  return workerExtractor(worker, "webcodecs-worker", handlers);
}

function frameCallbackExtractor(video, handlers) {
  if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) return null;
  const stats = new FrameStats();
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  let stopped = false, described = false, lastPresented = null, missed = 0, handle = 0;
  const onFrame = (now, meta) => {
    if (stopped) return;
    handle = video.requestVideoFrameCallback(onFrame);
    const srcW = meta.width || video.videoWidth, srcH = meta.height || video.videoHeight;
    if (!srcW || !srcH) return;
    const started = performance.now();
    const scale = Math.min(1, Math.sqrt(MAX_CANVAS_PIXELS / (srcW * srcH)));
    const w = Math.max(2, Math.round(srcW * scale)), h = Math.max(2, Math.round(srcH * scale));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    ctx.drawImage(video, 0, 0, w, h);
    const image = ctx.getImageData(0, 0, w, h);
    const s = stats.rgba(image.data, 0, 4 * w, w, h);
    // Frames the compositor presented that this callback never saw.
    if (lastPresented !== null && meta.presentedFrames > lastPresented + 1) {
      missed += meta.presentedFrames - lastPresented - 1;
    }
    lastPresented = meta.presentedFrames;
    const t = Number.isFinite(meta.captureTime) ? meta.captureTime / 1000
      : Number.isFinite(meta.mediaTime) ? meta.mediaTime : now / 1000;
    if (!described) {
      described = true;
      handlers.info({ kind: "frame-callback", format: "canvas", width: w, height: h, colorSpace: null, path: "canvas" });
    }
    handlers.sample({ t, roi: s.roi, full: s.full, clipped: s.clipped, gridSd: s.gridSd, ms: performance.now() - started });
  };
  handle = video.requestVideoFrameCallback(onFrame);
  return {
    kind: "frame-callback",
    missedFrames: () => missed,
    stop() {
      stopped = true;
      video.cancelVideoFrameCallback(handle);
    },
  };
}

/**
 * Starts the best extractor for `track` (shown in `video`); `prefer` = "frame-callback" skips
 * WebCodecs. Resolves to null when this browser gives the page no access to frames.
 */
export async function startExtractor(track, video, handlers, prefer) {
  if (prefer !== "frame-callback") {
    const extractor = await webCodecsExtractor(track, handlers);
    if (extractor) return extractor;
  }
  return frameCallbackExtractor(video, handlers);
}

/** Whether this browser can give the page camera frames (checked before opening the camera). */
export function frameAccessLikely() {
  return typeof MediaStreamTrackProcessor === "function" ||
    (typeof VideoFrame === "function" && typeof Worker === "function") ||
    (typeof HTMLVideoElement !== "undefined" && "requestVideoFrameCallback" in HTMLVideoElement.prototype);
}
