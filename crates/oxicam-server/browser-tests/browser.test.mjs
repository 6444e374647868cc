// Browser test of the oxicam web page: headless Debian chromium (no browser download) with a
// fake camera fed from a clip rendered from a real trace; record, upload, read the result.
// Run by scripts/test.d/browser.sh, which starts `oxicam serve` and sets the variables below.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE_URL = process.env.OXICAM_URL;
const FAKE_CAMERA = process.env.OXICAM_FAKE_CAMERA_Y4M;
const CLIP = process.env.OXICAM_CLIP;
const UNCOVERED_CLIP = process.env.OXICAM_UNCOVERED_CLIP;
const TRUE_HEART_RATE = Number(process.env.OXICAM_TRUE_HEART_RATE_BPM);
const SCREENSHOTS = process.env.OXICAM_SCREENSHOT_DIR;
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
for (const [name, value] of Object.entries({ BASE_URL, FAKE_CAMERA, CLIP, UNCOVERED_CLIP, SCREENSHOTS })) {
  if (!value) throw new Error(`${name} is not set (run through scripts/test.d/browser.sh)`);
}
assert.ok(TRUE_HEART_RATE > 30, "OXICAM_TRUE_HEART_RATE_BPM is set");

let context, profile;
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

before(async () => {
  profile = mkdtempSync(join(tmpdir(), "oxicam-chromium-"));
  mkdirSync(SCREENSHOTS, { recursive: true });
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ...PHONE,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
      `--use-file-for-fake-video-capture=${FAKE_CAMERA}`,
    ],
  });
  await context.grantPermissions(["camera"], { origin: BASE_URL });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function openPage(name) {
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  // Anything the Content-Security-Policy blocks is a problem, even if the page carries on.
  await page.addInitScript(() => document.addEventListener("securitypolicyviolation",
    (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)));
  const response = await page.goto(BASE_URL + "/");
  page.headers = response.headers();
  page.problems = problems;
  page.shot = (step) => page.screenshot({ path: join(SCREENSHOTS, `${name}-${step}.png`), fullPage: true });
  return page;
}

async function shownHeartRate(page) {
  await page.waitForFunction(() => /\d/.test(document.getElementById("hr").textContent), null,
    { timeout: 180_000, polling: 250 });
  return Number(await page.textContent("#hr"));
}

test("the page shows the instruction and the not-a-medical-device notice", async () => {
  const page = await openPage("start");
  assert.match(await page.textContent("#notice"), /Not a medical device/);
  assert.match(await page.textContent("#measure"), /rear camera/);
  assert.ok(await page.isVisible("#record"));
  await page.waitForFunction(() => document.getElementById("version").textContent.includes("model"));
  // Served under a strict policy, and working under it (no violation reported above).
  const csp = page.headers["content-security-policy"] || "";
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(page.headers["x-content-type-options"], "nosniff");
  assert.equal(page.headers["referrer-policy"], "no-referrer");
  assert.match(page.headers["permissions-policy"] || "", /camera=\(self\)/);
  await page.shot("initial");
  // Phone-sized: nothing wider than the screen.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone screen`);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("record 30 s from the (fake) rear camera, upload, see the heart rate", async () => {
  const page = await openPage("record");
  const mime = await page.evaluate(() => pickMimeType());
  await page.click("#record");
  await page.waitForFunction(() => document.getElementById("hint").textContent.includes("recording"),
    null, { timeout: 20_000 });
  await page.waitForTimeout(3000);
  await page.shot("recording");
  const heartRate = await shownHeartRate(page);
  await page.waitForTimeout(500);
  await page.shot("result");
  console.log(`recorded as ${mime || "browser default"}: page shows ${heartRate} bpm (truth ${TRUE_HEART_RATE})`);
  assert.ok(Math.abs(heartRate - TRUE_HEART_RATE) <= 10, `heart rate ${heartRate} vs ${TRUE_HEART_RATE}`);
  assert.match(await page.textContent("#status"), /Done/);
  assert.ok(await page.isVisible("#wave"), "pulse waveform plotted");
  assert.ok(await page.isVisible("#series"), "per-window series plotted");
  assert.match(await page.textContent("#result-notice"), /not a medical device/);
  assert.match(await page.textContent("#confidence"), /%$/);
  assert.ok(await page.isHidden("#stage"), "camera released after recording");
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("choose a video file, upload with progress, see the heart rate", async () => {
  const page = await openPage("file");
  await page.evaluate(() => {
    window.progressSeen = [];
    const original = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function (body) {
      this.upload.addEventListener("progress", (e) => window.progressSeen.push(e.loaded));
      return original.call(this, body);
    };
  });
  await page.setInputFiles("#file", CLIP);
  const heartRate = await shownHeartRate(page);
  await page.shot("result");
  console.log(`file picker: page shows ${heartRate} bpm (truth ${TRUE_HEART_RATE})`);
  assert.ok(Math.abs(heartRate - TRUE_HEART_RATE) <= 5, `heart rate ${heartRate} vs ${TRUE_HEART_RATE}`);
  assert.ok((await page.evaluate(() => window.progressSeen.length)) > 0, "upload progress reported");
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("a file that is not a video gets a clear message, not a result", async () => {
  const page = await openPage("refused");
  const notVideo = join(profile, "notes.txt");
  writeFileSync(notVideo, "this is not a video\n");
  await page.setInputFiles("#file", notVideo);
  await page.waitForFunction(() => /not a video/i.test(document.getElementById("status").textContent),
    null, { timeout: 30_000 });
  assert.ok(await page.isHidden("#result"));
  await page.shot("refused");
  await page.close();
});

test("a video of a scene (camera not covered) is refused with the reasons shown", async () => {
  const page = await openPage("unusable");
  await page.setInputFiles("#file", UNCOVERED_CLIP);
  await page.waitForSelector("#refused:not([hidden])", { timeout: 120_000 });
  const reasons = await page.$$eval("#reasons li", (items) => items.map((li) => li.textContent));
  assert.ok(reasons.length > 0 && reasons.every((r) => r.length > 10), `reasons: ${reasons}`);
  assert.equal(await page.textContent("#hr"), "–", "no heart rate for a refused recording");
  assert.ok(await page.isHidden("#series"), "no empty series plot for a refused recording");
  assert.match(await page.textContent("#status"), /refused/);
  await page.shot("refused");
  await page.close();
});
