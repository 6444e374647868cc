// Re-expresses a BT.709 limited-range 4:2:0 Y4M clip in BT.601 limited range for Chromium's
// fake camera: Chromium, like FFmpeg, reads frames that declare no matrix as BT.601, so the page
// then sees the clip's own colours. Each code value is rounded with uniform dither, which keeps
// every mean exact on average. Plain rounding (FFmpeg's colorspace and colormatrix filters) is
// biased here: a fingertip's chroma takes a handful of values, so the rounding error of the new
// luma is nearly constant, about 0.4 of 255 per channel, and moves the SpO2 estimate 3-4 points.
// Usage: node bt601-camera.mjs IN.y4m OUT.y4m (IN may be /dev/stdin)

import { openSync, readSync, writeSync, closeSync } from "node:fs";
import { coefficients, rgbOfYuv } from "../static/framestats.js";

const [input, output] = process.argv.slice(2);
if (!input || !output) throw new Error("usage: node bt601-camera.mjs IN.y4m OUT.y4m");

const from = coefficients({ kr: 0.2126, kb: 0.0722, fullRange: false });
const to = { kr: 0.299, kb: 0.114, ...coefficients({ kr: 0.299, kb: 0.114, fullRange: false }) };
const kg601 = 1 - to.kr - to.kb;

/** Fills `buffer` (pipes deliver in pieces); false at a clean end of input. */
function readFully(fd, buffer) {
  let done = 0;
  while (done < buffer.length) {
    const n = readSync(fd, buffer, done, buffer.length - done);
    if (n === 0) {
      if (done === 0) return false;
      throw new Error("truncated frame");
    }
    done += n;
  }
  return true;
}

function readLine(fd) {
  const bytes = [];
  const one = Buffer.alloc(1);
  while (readSync(fd, one, 0, 1) === 1 && one[0] !== 0x0a) bytes.push(one[0]);
  return Buffer.from(bytes).toString("latin1");
}

const inFd = openSync(input, "r");
const header = readLine(inFd);
const width = Number(/ W(\d+)/.exec(header)[1]), height = Number(/ H(\d+)/.exec(header)[1]);
if (!/ C420/.test(header) || width % 2 || height % 2) throw new Error(`need even-sized 4:2:0: ${header}`);
const outFd = openSync(output, "w");
writeSync(outFd, header + "\n");
const lumaSize = width * height, chromaSize = lumaSize / 4, cw = width / 2;
const frame = Buffer.alloc(lumaSize + 2 * chromaSize);
const out = Buffer.alloc(frame.length);
let seed = 0x9e3779b9;
function uniform() { // xorshift32, fixed seed: the same file every run
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296;
}
const clamp = (v) => Math.min(255, Math.max(0, Math.floor(v + uniform())));
let frames = 0;
for (;;) {
  const marker = readLine(inFd);
  if (!marker) break;
  if (!marker.startsWith("FRAME")) throw new Error(`bad frame marker ${marker}`);
  if (!readFully(inFd, frame)) throw new Error("truncated frame");
  for (let cy = 0; cy < height / 2; cy++) {
    for (let cx = 0; cx < cw; cx++) {
      const ci = cy * cw + cx;
      const u = frame[lumaSize + ci], v = frame[lumaSize + chromaSize + ci];
      let uSum = 0, vSum = 0;
      for (let dy = 0; dy < 2; dy++) {
        for (let dx = 0; dx < 2; dx++) {
          const i = (2 * cy + dy) * width + 2 * cx + dx;
          const [r, g, b] = rgbOfYuv(from, frame[i], u, v);
          const luma = to.kr * r + kg601 * g + to.kb * b;
          out[i] = clamp(luma / to.ay + to.y0);
          uSum += (b - luma) / to.bu + 128;
          vSum += (r - luma) / to.rv + 128;
        }
      }
      out[lumaSize + ci] = clamp(uSum / 4);
      out[lumaSize + chromaSize + ci] = clamp(vSum / 4);
    }
  }
  writeSync(outFd, "FRAME\n");
  writeSync(outFd, out);
  frames++;
}
closeSync(inFd);
closeSync(outFd);
console.error(`${frames} frames of ${width}x${height} converted to BT.601`);
