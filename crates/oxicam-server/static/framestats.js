// Per-frame statistics of a camera frame, with the definitions of oxicam-video's stats.rs, so a
// trace taken in the browser and one decoded by the server agree: R, G, B means of the whole
// frame and of the central region (the middle half in each dimension, aligned to the chroma
// grid), the share of central pixels clipped per channel (R >= 250, G <= 5, B <= 5) and the
// standard deviation of the mean luma over an 8 x 8 grid of cells covering the central region.
//
// Two inputs: YUV planes (a WebCodecs VideoFrame copied out as I420, I420A, I422, I444 or NV12)
// converted with the frame's declared matrix and range, like the server does; or RGBA pixels
// (canvas ImageData, RGBA/BGRA VideoFrames) where the browser already converted.

export const LUMA_GRID_CELLS = 8;
const CLIP_HIGH = 250;
const CLIP_LOW = 5;

/** Luma weights of red and blue per matrix name (VideoColorSpace.matrix). */
const MATRICES = {
  bt709: [0.2126, 0.0722],
  bt470bg: [0.299, 0.114],
  smpte170m: [0.299, 0.114],
  "bt2020-ncl": [0.2627, 0.0593],
};

/**
 * The YUV -> RGB conversion a frame declares. Unspecified matrices are read as BT.601 and an
 * unspecified range as limited, as FFmpeg and Chromium both do.
 */
export function conversionOf(colorSpace) {
  const [kr, kb] = MATRICES[colorSpace && colorSpace.matrix] || MATRICES.smpte170m;
  return { kr, kb, fullRange: Boolean(colorSpace && colorSpace.fullRange) };
}

/** Coefficients (per 8-bit code value) of R, G, B as affine functions of Y, U, V. */
export function coefficients({ kr, kb, fullRange }) {
  const kg = 1 - kr - kb;
  const [y0, ay, cs] = fullRange ? [0, 1, 1] : [16, 255 / 219, 255 / 224];
  return {
    y0, ay,
    rv: 2 * (1 - kr) * cs,
    gu: ((2 * kb * (1 - kb)) / kg) * cs,
    gv: ((2 * kr * (1 - kr)) / kg) * cs,
    bu: 2 * (1 - kb) * cs,
  };
}

/** RGB (8-bit scale, unclamped) of mean Y, U, V: exact for means, the map being affine. */
export function rgbOfYuv(c, y, u, v) {
  const yl = c.ay * (y - c.y0);
  const du = u - 128, dv = v - 128;
  return [yl + c.rv * dv, yl - c.gu * du - c.gv * dv, yl + c.bu * du];
}

/** The central region, aligned to the chroma grid (shift = log2 of the subsampling). */
export function centralRegion(width, height, sx, sy) {
  const align = (v, s) => (v >> s) << s;
  const q = (n) => Math.floor(n / 4);
  const region = {
    x0: align(q(width), sx), x1: align(width - q(width), sx),
    y0: align(q(height), sy), y1: align(height - q(height), sy),
  };
  if (region.x1 <= region.x0 || region.y1 <= region.y0) {
    return { x0: 0, x1: width, y0: 0, y1: height };
  }
  return region;
}

/**
 * Luma thresholds per chroma value: a pixel has R >= 250 when Y >= thrR[V], G <= 5 when
 * Y <= thrG[U << 8 | V], B <= 5 when Y <= thrB[U] (the rounding of stats.rs's ClipTables).
 */
function clipTables(conv) {
  const c = coefficients(conv);
  const clamp = (v) => Math.min(256, Math.max(-1, v));
  const thrR = new Int16Array(256), thrB = new Int16Array(256), thrG = new Int16Array(65536);
  for (let code = 0; code < 256; code++) {
    const d = code - 128;
    thrR[code] = clamp(Math.ceil(c.y0 + (CLIP_HIGH - c.rv * d) / c.ay));
    thrB[code] = clamp(Math.floor(c.y0 + (CLIP_LOW - c.bu * d) / c.ay));
  }
  for (let uv = 0; uv < 65536; uv++) {
    const du = (uv >> 8) - 128, dv = (uv & 255) - 128;
    thrG[uv] = clamp(Math.floor(c.y0 + (CLIP_LOW + c.gu * du + c.gv * dv) / c.ay));
  }
  return { thrR, thrG, thrB };
}

/** Left edges of the grid columns (plus the right end) and the grid row of each region row. */
function gridLayout(region) {
  const roiW = region.x1 - region.x0, roiH = region.y1 - region.y0;
  const cellX = [];
  for (let i = 0; i <= LUMA_GRID_CELLS; i++) cellX.push(region.x0 + Math.floor((i * roiW) / LUMA_GRID_CELLS));
  const rowsPerCell = new Array(LUMA_GRID_CELLS).fill(0);
  for (let dy = 0; dy < roiH; dy++) rowsPerCell[Math.floor((dy * LUMA_GRID_CELLS) / roiH)] += 1;
  return { cellX, rowsPerCell, roiW, roiH };
}

/** Population SD of the cells' mean luma, times `scale` (to the 8-bit RGB scale). */
function gridSd(cells, layout, scale) {
  const means = [];
  for (let r = 0; r < LUMA_GRID_CELLS; r++) {
    for (let c = 0; c < LUMA_GRID_CELLS; c++) {
      const px = layout.rowsPerCell[r] * (layout.cellX[c + 1] - layout.cellX[c]);
      if (px > 0) means.push((cells[r * LUMA_GRID_CELLS + c] / px) * scale);
    }
  }
  const n = Math.max(1, means.length);
  const mean = means.reduce((a, b) => a + b, 0) / n;
  return Math.sqrt(means.reduce((a, m) => a + (m - mean) ** 2, 0) / n);
}

/** Sums luma of the whole frame, of the region and of each grid cell in one pass. */
function lumaSums(luma, offset, stride, width, height, region, layout, cells) {
  let full = 0, roi = 0;
  const { cellX } = layout;
  for (let yy = 0; yy < height; yy++) {
    const base = offset + yy * stride;
    if (yy < region.y0 || yy >= region.y1) {
      for (let x = 0; x < width; x++) full += luma[base + x];
      continue;
    }
    const cellRow = Math.floor(((yy - region.y0) * LUMA_GRID_CELLS) / layout.roiH) * LUMA_GRID_CELLS;
    let outside = 0, inside = 0;
    for (let x = 0; x < region.x0; x++) outside += luma[base + x];
    for (let x = region.x1; x < width; x++) outside += luma[base + x];
    for (let c = 0; c < LUMA_GRID_CELLS; c++) {
      let s = 0;
      for (let x = cellX[c]; x < cellX[c + 1]; x++) s += luma[base + x];
      cells[cellRow + c] += s;
      inside += s;
    }
    roi += inside;
    full += inside + outside;
  }
  return { full, roi };
}

/**
 * Plane layout of a VideoFrame format: chroma shifts and whether U and V are interleaved.
 * Null for formats that are not 8-bit YUV.
 */
export function yuvLayout(format) {
  switch (format) {
    case "I420": case "I420A": return { sx: 1, sy: 1, interleaved: false };
    case "I422": case "I422A": return { sx: 1, sy: 0, interleaved: false };
    case "I444": case "I444A": return { sx: 0, sy: 0, interleaved: false };
    case "NV12": return { sx: 1, sy: 1, interleaved: true };
    default: return null;
  }
}

/** Whether a VideoFrame format is 8-bit RGB, and where red sits in each 4-byte pixel. */
export function rgbLayout(format) {
  switch (format) {
    case "RGBA": case "RGBX": return { red: 0, blue: 2 };
    case "BGRA": case "BGRX": return { red: 2, blue: 0 };
    default: return null;
  }
}

/**
 * Statistics computer for a stream of frames; keeps its clip tables and scratch between
 * frames so the per-frame work allocates almost nothing.
 */
export class FrameStats {
  constructor() {
    this.tablesFor = null;
    this.tables = null;
    this.cells = new Float64Array(LUMA_GRID_CELLS * LUMA_GRID_CELLS);
  }

  /**
   * Statistics of one YUV frame. `planes` are `{offset, stride}` into `data` (VideoFrame.copyTo
   * layout): Y, then U and V, or one interleaved UV plane for NV12.
   */
  yuv(data, planes, width, height, layout, conv) {
    const { sx, sy, interleaved } = layout;
    const region = centralRegion(width, height, sx, sy);
    const grid = gridLayout(region);
    const cells = this.cells.fill(0);
    const luma = lumaSums(data, planes[0].offset, planes[0].stride, width, height, region, grid, cells);
    const key = `${conv.kr},${conv.kb},${conv.fullRange}`;
    if (this.tablesFor !== key) {
      this.tables = clipTables(conv);
      this.tablesFor = key;
    }
    const { thrR, thrG, thrB } = this.tables;
    // Chroma sample positions: U at uOff + cy * uStride + cx * step, V likewise.
    const step = interleaved ? 2 : 1;
    const uPlane = planes[1], vPlane = interleaved ? planes[1] : planes[2];
    const uOff = uPlane.offset, vOff = vPlane.offset + (interleaved ? 1 : 0);
    const uStride = uPlane.stride, vStride = vPlane.stride;
    const cw = (width + (1 << sx) - 1) >> sx, ch = (height + (1 << sy) - 1) >> sy;
    const cx0 = region.x0 >> sx, cx1 = region.x1 >> sx, cy0 = region.y0 >> sy, cy1 = region.y1 >> sy;
    let fullU = 0, fullV = 0, roiU = 0, roiV = 0;
    for (let cy = 0; cy < ch; cy++) {
      const ub = uOff + cy * uStride, vb = vOff + cy * vStride;
      const inRows = cy >= cy0 && cy < cy1;
      for (let cx = 0; cx < cw; cx++) {
        const u = data[ub + cx * step], v = data[vb + cx * step];
        fullU += u; fullV += v;
        if (inRows && cx >= cx0 && cx < cx1) { roiU += u; roiV += v; }
      }
    }
    let clipR = 0, clipG = 0, clipB = 0;
    const yOff = planes[0].offset, yStride = planes[0].stride;
    for (let yy = region.y0; yy < region.y1; yy++) {
      const cy = yy >> sy, lb = yOff + yy * yStride;
      const ub = uOff + cy * uStride, vb = vOff + cy * vStride;
      for (let xx = region.x0; xx < region.x1; xx++) {
        const cx = xx >> sx;
        const u = data[ub + cx * step], v = data[vb + cx * step], y = data[lb + xx];
        if (y >= thrR[v]) clipR++;
        if (y <= thrG[(u << 8) | v]) clipG++;
        if (y <= thrB[u]) clipB++;
      }
    }
    const c = coefficients(conv);
    const roiPx = grid.roiW * grid.roiH;
    const roiC = (cx1 - cx0) * (cy1 - cy0), fullC = cw * ch;
    return {
      roi: rgbOfYuv(c, luma.roi / roiPx, roiU / roiC, roiV / roiC),
      full: rgbOfYuv(c, luma.full / (width * height), fullU / fullC, fullV / fullC),
      clipped: [clipR / roiPx, clipG / roiPx, clipB / roiPx],
      gridSd: gridSd(cells, grid, c.ay),
    };
  }

  /**
   * Statistics of RGB pixels, 4 bytes each (ImageData or an RGBA/BGRA VideoFrame). Luma for
   * the grid uses BT.601 weights: for BT.601 sources it is the same figure as from the planes.
   */
  rgba(data, offset, stride, width, height, order = { red: 0, blue: 2 }) {
    const region = centralRegion(width, height, 1, 1);
    const grid = gridLayout(region);
    const cells = this.cells.fill(0);
    const [kr, kb] = MATRICES.smpte170m, kg = 1 - kr - kb;
    const { red, blue } = order;
    const full = [0, 0, 0], roi = [0, 0, 0];
    let clipR = 0, clipG = 0, clipB = 0;
    for (let yy = 0; yy < height; yy++) {
      const base = offset + yy * stride;
      const inRows = yy >= region.y0 && yy < region.y1;
      const cellRow = inRows ? Math.floor(((yy - region.y0) * LUMA_GRID_CELLS) / grid.roiH) * LUMA_GRID_CELLS : 0;
      let cell = 0;
      for (let xx = 0; xx < width; xx++) {
        const p = base + 4 * xx;
        const r = data[p + red], g = data[p + 1], b = data[p + blue];
        full[0] += r; full[1] += g; full[2] += b;
        if (!inRows || xx < region.x0 || xx >= region.x1) continue;
        roi[0] += r; roi[1] += g; roi[2] += b;
        if (r >= CLIP_HIGH) clipR++;
        if (g <= CLIP_LOW) clipG++;
        if (b <= CLIP_LOW) clipB++;
        while (xx >= grid.cellX[cell + 1]) cell++;
        cells[cellRow + cell] += kr * r + kg * g + kb * b;
      }
    }
    const roiPx = grid.roiW * grid.roiH, px = width * height;
    return {
      roi: roi.map((s) => s / roiPx),
      full: full.map((s) => s / px),
      clipped: [clipR / roiPx, clipG / roiPx, clipB / roiPx],
      gridSd: gridSd(cells, grid, 1),
    };
  }
}
