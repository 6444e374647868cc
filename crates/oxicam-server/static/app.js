// The oxicam page. A measurement reads the camera frames in the page and sends only the colour
// trace (`POST /v1/traces`); browsers that give a page no frame access record a video and
// upload it (`POST /v1/analyses`), as a chosen file is. Query parameters: `record_s` (5-60),
// `mode=video` (record and upload a video), `extractor=frame-callback` (skip WebCodecs).

import {
  CameraControls, cameraAvailable, cameraErrorMessage, frameAccessLikely, openCamera, startExtractor,
} from "./capture.js";
import { classify, droppedFrames, livePulse, PROVISIONAL_AFTER_S, RATE_HZ } from "./pulse.js";
import { encodeTrace } from "./traceformat.js";
import { drawLiveWave, drawSeries, drawWave } from "./plots.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const RECORD_S = Math.max(5, Math.min(60, Number(params.get("record_s")) || 30));
const FORCE_VIDEO = params.get("mode") === "video";
const PREFERRED_EXTRACTOR = params.get("extractor");
const GET_READY_S = 3;
/** Covered this long before the clock starts; exposure settles meanwhile. */
const COVERED_BEFORE_START_S = 1.0;
/** Uncovered (or dark, or over-exposed) this long while recording restarts the clock. */
const SLIP_RESTART_S = 0.5;
const GUIDE_TEXT = {
  dark: ["bad", "Too dark: the camera needs light through the finger"],
  uncovered: ["bad", "Not covered: cover the camera and the light with your fingertip"],
  pale: ["warn", "Covered, but not the red of a lit fingertip: cover the light as well"],
  oneChannel: ["warn", "Covered; only one colour in range, so SpO2 may be unavailable"],
  noPulse: ["warn", "Covered, but no pulse seen yet: press gently and keep still"],
  clipped: ["bad", "Too bright in every colour: press a little more lightly"],
  ok: ["ok", "Covered"],
};

document.querySelectorAll(".record-s").forEach((el) => { el.textContent = RECORD_S; });

let session = null, xhr = null;

function setStatus(text) { $("status").textContent = text; }
function busy(on) {
  $("record").disabled = on;
  $("file").disabled = on;
  $("cancel").hidden = !on;
}
function setNotes(lines) {
  $("camera-notes").replaceChildren(...lines.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
}

function usesTraceMode() {
  return !FORCE_VIDEO && frameAccessLikely();
}

function showPrivacy() {
  if (usesTraceMode()) return;
  $("privacy").textContent = FORCE_VIDEO || !cameraAvailable()
    ? "In this mode the video is uploaded for the analysis and deleted right after it."
    : "This browser does not let the page read camera frames, so the video is uploaded for the " +
      "analysis and deleted right after it.";
}

function showStage(on) {
  $("stage").hidden = !on;
  if (!on) $("preview").srcObject = null;
}

/**
 * One trace measurement: camera, controls, extractor, the covered/recording state machine and
 * the live guidance. Ends by calling `onDone(samples, hints)` or `onAbort(message)`.
 */
class TraceSession {
  constructor(stream, { onDone, onAbort }) {
    this.stream = stream;
    this.track = stream.getVideoTracks()[0];
    this.controls = new CameraControls(this.track);
    this.onDone = onDone;
    this.onAbort = onAbort;
    this.phase = "waiting";
    this.coveredSince = null;
    this.badSince = null;
    this.recordStart = null;
    this.samples = [];
    this.restarts = 0;
    this.frames = 0;
    this.lastClass = null;
    this.info = null;
    this.extractor = null;
    this.ended = false;
    this.drawPending = false;
    this.lastPulseAt = 0;
    this.pulse = null;
    this.lastT = null;
  }

  async start() {
    $("preview").srcObject = this.stream;
    showStage(true);
    $("count").textContent = RECORD_S;
    $("hint").textContent = "Cover the camera and the light with your fingertip";
    $("live").hidden = false;
    $("pulse").textContent = "";
    const torch = await this.controls.torchOn();
    this.describeControls();
    setStatus(torch ? "Torch on. Waiting for your fingertip…" : "Waiting for your fingertip…");
    this.extractor = await startExtractor(this.track, $("preview"), {
      sample: (s) => this.onSample(s),
      info: (info) => { this.info = info; },
      error: (message) => this.abort(`Reading the camera frames failed: ${message}`),
    }, PREFERRED_EXTRACTOR);
    if (!this.extractor) {
      this.abort(null);
      return false;
    }
    return true;
  }

  describeControls() {
    const c = this.controls, notes = [];
    notes.push(c.torch ? "Torch on."
      : "This browser gives the page no torch control: switch the torch on in the phone's " +
        "quick settings, or hold the finger under a bright lamp.");
    if (c.exposureLocked || c.whiteBalanceLocked) {
      notes.push(`Locked for the recording: ${[c.exposureLocked && "exposure", c.whiteBalanceLocked && "white balance"]
        .filter(Boolean).join(" and ")}.`);
    }
    if (!c.canLockExposure || !c.canLockWhiteBalance) {
      const missing = [!c.canLockExposure && "exposure", !c.canLockWhiteBalance && "white balance"].filter(Boolean);
      notes.push(`This browser cannot lock the camera's ${missing.join(" or ")}: keep the finger ` +
        "still so the camera does not readjust.");
    }
    setNotes(notes);
  }

  onSample(sample) {
    if (this.ended) return;
    // A frame older than the last one (a restarted source) cannot extend the trace.
    if (this.lastT !== null && !(sample.t > this.lastT)) return;
    this.lastT = sample.t;
    this.frames++;
    const verdict = classify(sample);
    this.lastClass = verdict;
    const good = verdict.state === "ok";
    if (this.phase === "waiting") {
      if (!good) { this.coveredSince = null; } else if (this.coveredSince === null) { this.coveredSince = sample.t; }
      if (good && sample.t - this.coveredSince >= COVERED_BEFORE_START_S) this.beginRecording(sample);
    } else if (this.phase === "recording") {
      if (good) this.badSince = null;
      else if (this.badSince === null) this.badSince = sample.t;
      if (this.badSince !== null && sample.t - this.badSince >= SLIP_RESTART_S) {
        this.restart();
      } else {
        this.samples.push(sample);
        if (sample.t - this.recordStart >= RECORD_S) {
          this.finish();
          return;
        }
      }
    }
    this.scheduleDraw();
  }

  beginRecording(sample) {
    this.phase = "recording";
    this.recordStart = sample.t;
    this.samples = [sample];
    this.badSince = null;
    this.controls.lock().then(() => this.describeControls());
    setStatus("Recording… keep still.");
  }

  restart() {
    this.phase = "waiting";
    this.samples = [];
    this.coveredSince = null;
    this.badSince = null;
    this.pulse = null;
    this.restarts++;
    this.controls.unlock().then(() => this.describeControls());
    setStatus("The camera was uncovered, so the clock starts again when your fingertip covers it.");
  }

  elapsed() {
    return this.phase === "recording" && this.samples.length
      ? this.samples[this.samples.length - 1].t - this.recordStart : 0;
  }

  scheduleDraw() {
    if (this.drawPending) return;
    this.drawPending = true;
    requestAnimationFrame(() => {
      this.drawPending = false;
      if (!this.ended) this.draw();
    });
  }

  draw() {
    const verdict = this.lastClass;
    if (!verdict) return;
    const elapsed = this.elapsed();
    let guide = verdict.state;
    if (guide === "ok") {
      if (this.pulse && !this.pulse.pulseSeen && elapsed >= PROVISIONAL_AFTER_S) guide = "noPulse";
      else if (!verdict.fingerColour) guide = "pale";
      else if (verdict.inRange.length === 1) guide = "oneChannel";
    }
    const [kind, text] = GUIDE_TEXT[guide];
    $("guide").hidden = false;
    $("guide").className = `guide ${kind}`;
    $("guide").textContent = text;
    if (this.phase === "waiting") {
      $("count").textContent = RECORD_S;
      $("hint").textContent = verdict.state === "ok" ? "Hold still: starting" : "Waiting for your fingertip";
      $("pulse").textContent = "";
      drawLiveWave($("live-wave"), [], RATE_HZ);
      return;
    }
    $("count").textContent = Math.max(0, Math.ceil(RECORD_S - elapsed));
    $("hint").textContent = verdict.state === "ok" ? "Keep still: recording" : "Cover the camera again";
    const now = performance.now();
    if (now - this.lastPulseAt > 250) {
      this.lastPulseAt = now;
      this.pulse = livePulse(this.samples, elapsed);
    }
    const p = this.pulse;
    drawLiveWave($("live-wave"), p ? p.wave : [], RATE_HZ);
    if (!p) $("pulse").textContent = "Looking for your pulse…";
    else if (p.provisionalBpm) {
      $("pulse").replaceChildren("Pulse seen: about ", Object.assign(document.createElement("b"),
        { textContent: `${Math.round(p.provisionalBpm)} bpm` }), " (provisional)");
    } else if (p.pulseSeen) $("pulse").textContent = `Pulse seen; a rate in ${Math.max(1, Math.ceil(PROVISIONAL_AFTER_S - elapsed))} s`;
    else $("pulse").textContent = "Looking for your pulse…";
  }

  hints() {
    const settings = this.track.getSettings ? this.track.getSettings() : {};
    const times = this.samples.map((s) => s.t);
    const work = this.samples.map((s) => s.ms).filter(Number.isFinite);
    return {
      extractor: this.extractor && this.extractor.kind,
      frame_format: this.info && this.info.format,
      frame_path: this.info && this.info.path,
      width: this.info && this.info.width,
      height: this.info && this.info.height,
      color_space: this.info && this.info.colorSpace ? JSON.stringify(this.info.colorSpace) : null,
      frame_rate: settings.frameRate || null,
      frames_dropped: droppedFrames(times) + (this.extractor ? this.extractor.missedFrames() : 0),
      // Time the page spent on a frame, to tell a slow page from a slow camera.
      frame_ms_mean: work.length ? Math.round(100 * work.reduce((a, b) => a + b, 0) / work.length) / 100 : null,
      frame_ms_max: work.length ? Math.round(100 * Math.max(...work)) / 100 : null,
      restarts: this.restarts,
      ...this.controls.hints(),
      user_agent: navigator.userAgent,
    };
  }

  stopCamera() {
    this.ended = true;
    if (this.extractor) this.extractor.stop();
    this.stream.getTracks().forEach((t) => t.stop());
    showStage(false);
    $("live").hidden = true;
    $("guide").hidden = true;
  }

  finish() {
    const hints = this.hints();
    const samples = this.samples;
    this.stopCamera();
    this.onDone(samples, hints);
  }

  abort(message) {
    if (this.ended) return;
    this.stopCamera();
    this.onAbort(message);
  }
}

async function measure() {
  if (!cameraAvailable()) {
    setStatus("This browser cannot open the camera here; choose a video file instead.");
    return;
  }
  if (!usesTraceMode()) {
    recordVideo();
    return;
  }
  busy(true);
  $("result").hidden = true;
  setNotes([]);
  let stream;
  try {
    stream = await openCamera();
  } catch (e) {
    busy(false);
    setStatus(cameraErrorMessage(e));
    return;
  }
  session = new TraceSession(stream, {
    onDone: (samples, hints) => {
      session = null;
      const body = encodeTrace(samples, hints);
      send("/v1/traces", JSON.stringify(body), "application/json");
    },
    onAbort: (message) => {
      session = null;
      busy(false);
      if (message) setStatus(message);
    },
  });
  if (!(await session.start())) {
    // No frame access after all: record a video instead, on the same permission.
    recordVideo();
  }
}

function pickMimeType() {
  if (typeof MediaRecorder === "undefined") return null;
  const candidates = ["video/mp4;codecs=avc1", "video/mp4", "video/webm;codecs=vp9",
    "video/webm;codecs=vp8", "video/webm"];
  return candidates.find((m) => MediaRecorder.isTypeSupported(m)) || "";
}

let video = null;

function countdown(seconds, onTick) {
  return new Promise((resolve) => {
    let left = seconds;
    onTick(left);
    const timer = setInterval(() => {
      left -= 1;
      if (!video || video.cancelled || left <= 0) { clearInterval(timer); resolve(video && !video.cancelled); return; }
      onTick(left);
    }, 1000);
  });
}

/** The video path: record with MediaRecorder and upload the file. */
async function recordVideo() {
  const mimeType = pickMimeType();
  if (mimeType === null) {
    setStatus("This browser cannot record video here; choose a video file instead.");
    busy(false);
    return;
  }
  busy(true);
  $("result").hidden = true;
  video = { cancelled: false, stream: null, recorder: null };
  const current = video;
  try {
    current.stream = await openCamera();
  } catch (e) {
    busy(false);
    setStatus(cameraErrorMessage(e));
    return;
  }
  const track = current.stream.getVideoTracks()[0];
  const controls = new CameraControls(track);
  const torch = await controls.torchOn();
  $("preview").srcObject = current.stream;
  showStage(true);
  const hint = torch ? "Cover the camera and the light with your fingertip"
    : "Cover the camera with your fingertip (turn on a light if you can)";
  setStatus(torch ? "Torch on." : "This browser cannot switch the torch on.");
  const stopCamera = () => { current.stream.getTracks().forEach((t) => t.stop()); showStage(false); };
  if (!(await countdown(GET_READY_S, (s) => { $("count").textContent = s; $("hint").textContent = hint; }))) {
    stopCamera();
    return;
  }
  const chunks = [];
  current.recorder = new MediaRecorder(current.stream, mimeType ? { mimeType } : undefined);
  current.recorder.ondataavailable = (e) => { if (e.data && e.data.size) chunks.push(e.data); };
  const stopped = new Promise((resolve) => { current.recorder.onstop = resolve; });
  current.recorder.start(1000);
  setStatus("Recording… keep still.");
  const done = await countdown(RECORD_S, (s) => { $("count").textContent = s; $("hint").textContent = "Keep still: recording"; });
  if (current.recorder.state !== "inactive") current.recorder.stop();
  await stopped;
  stopCamera();
  video = null;
  if (!done) return;
  const type = current.recorder.mimeType || mimeType || "video/webm";
  uploadVideo(new Blob(chunks, { type }), "recording." + (type.includes("mp4") ? "mp4" : "webm"));
}

function uploadVideo(blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  send("/v1/analyses", form, null);
}

/** Posts a body and shows the report, the refusal or the error. */
function send(url, body, contentType) {
  busy(true);
  $("result").hidden = true;
  xhr = new XMLHttpRequest();
  xhr.open("POST", url);
  if (contentType) xhr.setRequestHeader("Content-Type", contentType);
  xhr.responseType = "json";
  $("progress").hidden = false;
  $("progress").value = 0;
  const size = typeof body === "string" ? new Blob([body]).size : null;
  setStatus(size ? `Sending the trace (${Math.max(1, Math.round(size / 1024))} KB)…` : "Uploading…");
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable && size === null) {
      $("progress").value = (100 * e.loaded) / e.total;
      setStatus("Uploading… " + Math.round((100 * e.loaded) / e.total) + "%");
    }
  };
  xhr.upload.onload = () => { $("progress").removeAttribute("value"); setStatus("Analysing…"); };
  xhr.onload = () => {
    $("progress").hidden = true;
    busy(false);
    const response = xhr.response || {};
    if (xhr.status === 200) { show(response, null); setStatus("Done."); return; }
    const err = response.error || { message: "The server answered " + xhr.status + "." };
    if (xhr.status === 422 && err.report) { show(err.report, err); setStatus("Recording refused."); return; }
    const retry = xhr.getResponseHeader("Retry-After");
    setStatus(err.message + (retry ? " Try again in " + retry + " s." : ""));
  };
  xhr.onerror = () => { $("progress").hidden = true; busy(false); setStatus("Sending failed: network error."); };
  xhr.onabort = () => { $("progress").hidden = true; busy(false); setStatus("Cancelled."); };
  xhr.send(body);
}

function fmt(value, digits) { return value === null || value === undefined ? "–" : value.toFixed(digits); }

const SCREEN_TEXT = {
  likely: ["likely", "The estimate and its uncertainty lie below 90 %. Measure again at rest; if it " +
    "stays low or you feel unwell (short of breath, confused, blue lips), seek medical help."],
  unlikely: ["unlikely", "The estimate and its uncertainty lie at or above 90 %."],
  uncertain: ["uncertain", "The uncertainty around the estimate spans 90 %, so this recording cannot " +
    "tell. Measure again with warm hands, keeping still; if in doubt use a clip oximeter."],
};

// The hypoxaemia screen, or why there is no SpO2 and what to do about it.
function showScreen(report) {
  const verdict = SCREEN_TEXT[report.hypoxaemia];
  $("screen").hidden = !verdict;
  $("screen").className = "screen" + (verdict ? " " + report.hypoxaemia : "");
  $("screen-verdict").textContent = verdict ? verdict[0] : "";
  $("screen-meaning").textContent = verdict ? verdict[1] : "";
  const why = {
    out_of_domain: "No SpO2: this recording is outside what the model was trained on (often another " +
      "phone's camera). The heart rate is still valid. A clip oximeter is the reliable way to measure SpO2.",
    unavailable: "No SpO2: too little of the recording passed the checks. Measure again, keeping still.",
  }[report.usable === false ? "" : report.spo2_status];
  $("spo2-meaning").hidden = !why;
  $("spo2-meaning").textContent = why || "";
}

// Heart-rate variability: the figures with a one-line meaning, or why there are none.
function showHrv(report) {
  const h = report.hrv, why = report.hrv_reason;
  $("hrv").hidden = !h && !(why && report.usable);
  $("hrv").textContent = h
    ? "Heart-rate variability: RMSSD " + fmt(h.rmssd_ms, 0) + " ms, SDNN " + fmt(h.sdnn_ms, 0) +
      " ms, pNN50 " + fmt(h.pnn50_percent, 0) + " % over " + fmt(h.seconds, 0) + " s of clean " +
      "beats: how much the time between beats varies, usually higher when rested and relaxed."
    : why ? why.message : "";
}

// What to do after a refusal, from the first reason that has advice.
function nextStep(reasons) {
  const advice = {
    lens_not_covered: "Cover the rear camera and the flash completely with your fingertip.",
    channel_clipped: "Press more lightly: the picture is too bright.",
    motion: "Rest your hand on a table and keep still for the whole recording.",
    too_short: "Record for at least 30 seconds.",
    low_snr: "Warm your hands, press gently (not hard) and keep still, then measure again.",
    no_pulse: "Warm your hands, press gently (not hard) and keep still, then measure again.",
    hr_out_of_range: "Keep still and measure again; if your pulse feels unusual, see a clinician.",
    invalid_trace: "Record again with the button above.",
    truncated: "The file ended early: record or send the full video again.",
  };
  const hit = reasons.map((r) => advice[r.code]).find((a) => a);
  return hit ? "What to do next: " + hit : "";
}

function show(report, refusal) {
  $("result").hidden = false;
  $("hr").textContent = fmt(report.heart_rate_bpm, 0);
  const interval = report.spo2_interval_percent;
  $("spo2").textContent = report.spo2_status === "below_range" && interval ? "< " + fmt(interval[1], 0) : fmt(report.spo2_percent, 0);
  $("spo2-unit").textContent = interval ? "SpO2, % (90 % interval " + fmt(interval[0], 0) + "-" + fmt(interval[1], 0) + ")" : "SpO2, %";
  $("confidence").textContent = report.confidence === undefined ? "–" : Math.round(100 * report.confidence) + "%";
  showScreen(report);
  showHrv(report);
  const reasons = (refusal && refusal.reasons) || (report.quality && report.quality.reasons) || [];
  $("refused").hidden = !refusal && report.usable !== false;
  $("reasons").replaceChildren(...(reasons.length ? reasons : [{ message: refusal ? refusal.message : "" }])
    .map((r) => { const li = document.createElement("li"); li.textContent = r.message; return li; }));
  $("next-step").textContent = nextStep(reasons);
  $("result-notice").textContent = report.notice || "";
  const wave = report.waveform;
  $("wave-box").hidden = !(wave && wave.samples && wave.samples.length > 1);
  if (!$("wave-box").hidden) drawWave($("wave"), wave);
  const windows = report.windows || [];
  // Without a single usable window there is no series to plot, only the reasons above.
  $("series-box").hidden = !windows.some((w) => w.usable);
  if (!$("series-box").hidden) drawSeries($("series"), windows);
  $("result").scrollIntoView({ behavior: "smooth", block: "start" });
}

function cancel(message) {
  if (session) { session.abort(null); session = null; }
  if (video) {
    video.cancelled = true;
    if (video.recorder && video.recorder.state !== "inactive") video.recorder.stop();
    else if (video.stream) { video.stream.getTracks().forEach((t) => t.stop()); showStage(false); }
    video = null;
  }
  if (xhr && xhr.readyState !== 4) xhr.abort();
  busy(false);
  setStatus(message);
}

$("record").addEventListener("click", measure);
$("file").addEventListener("change", () => {
  const file = $("file").files[0];
  if (file) uploadVideo(file, file.name);
  $("file").value = "";
});
$("cancel").addEventListener("click", () => cancel("Cancelled."));
// A hidden page (another app or tab in front, screen locked) loses the camera or gets it
// throttled: stop rather than keep the torch on and record a broken trace.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState !== "hidden" || !(session || video)) return;
  cancel("The measurement stopped because the page was hidden. Start again and keep this page " +
    "in front for the whole measurement.");
});
showPrivacy();
fetch("/v1/about").then((r) => r.json()).then((v) => {
  $("version").textContent = "oxicam " + v.version + " · model " + v.model_version;
}).catch(() => {});
