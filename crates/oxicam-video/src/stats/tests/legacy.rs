//! The statistics as they were before the clip counts moved to a row subsample (commit
//! 071fbed), kept verbatim for the tests: the new code must give the same means to 1e-9.
#![allow(dead_code, clippy::all)]

pub use crate::stats::ColorConversion;
use oxicam_signal::FrameSample;

/// Cells per side of the coarse luma grid laid over the central region.
pub const LUMA_GRID_CELLS: usize = 8;

fn coefficients(conv: &ColorConversion) -> Coefficients {
    let kg = 1.0 - conv.kr - conv.kb;
    let (y0, ay, c_scale) = if conv.full_range {
        (0.0, 1.0, 1.0)
    } else {
        (16.0, 255.0 / 219.0, 255.0 / 224.0)
    };
    Coefficients {
        y0,
        ay,
        rv: 2.0 * (1.0 - conv.kr) * c_scale,
        gu: 2.0 * conv.kb * (1.0 - conv.kb) / kg * c_scale,
        gv: 2.0 * conv.kr * (1.0 - conv.kr) / kg * c_scale,
        bu: 2.0 * (1.0 - conv.kb) * c_scale,
    }
}

#[derive(Debug, Clone, Copy)]
struct Coefficients {
    y0: f64,
    ay: f64,
    rv: f64,
    gu: f64,
    gv: f64,
    bu: f64,
}

/// Borrowed 8-bit planes of one frame. `chroma_shift` is log2 of the chroma subsampling
/// (x, y): (1, 1) for 4:2:0, (1, 0) for 4:2:2, (0, 0) for 4:4:4. Missing chroma (grey) is
/// given as `None` and read as 128.
pub struct Planes<'a> {
    pub width: usize,
    pub height: usize,
    pub luma: &'a [u8],
    pub luma_stride: usize,
    pub chroma: Option<ChromaPlanes<'a>>,
}

pub struct ChromaPlanes<'a> {
    pub u: &'a [u8],
    pub v: &'a [u8],
    pub stride_u: usize,
    pub stride_v: usize,
    pub shift: (u32, u32),
}

/// The central region: the middle half of the frame in each dimension, aligned to the chroma
/// grid so luma and chroma cover exactly the same pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x0: usize,
    pub x1: usize,
    pub y0: usize,
    pub y1: usize,
}

impl Region {
    pub fn central(width: usize, height: usize, shift: (u32, u32)) -> Region {
        let align = |v: usize, s: u32| (v >> s) << s;
        let mut region = Region {
            x0: align(width / 4, shift.0),
            x1: align(width - width / 4, shift.0),
            y0: align(height / 4, shift.1),
            y1: align(height - height / 4, shift.1),
        };
        if region.x1 <= region.x0 || region.y1 <= region.y0 {
            region = Region {
                x0: 0,
                x1: width,
                y0: 0,
                y1: height,
            };
        }
        region
    }
}

/// Reusable buffers so per-frame work allocates nothing after the first frame.
#[derive(Default)]
pub struct StatsScratch {
    /// Clip thresholds of the last conversion seen (streams do not change it mid-way).
    tables: Option<(ColorConversion, ClipTables)>,
    thr_r: Vec<i16>,
    thr_g: Vec<i16>,
    thr_b: Vec<i16>,
}

/// Per-pixel clip thresholds on luma for one chroma sample: a pixel has R >= 250 when
/// Y >= thr_r, G <= 5 when Y <= thr_g, B <= 5 when Y <= thr_b.
struct ClipTables {
    thr_r_of_v: [i16; 256],
    thr_b_of_u: [i16; 256],
    /// Indexed by `u << 8 | v`.
    thr_g_of_uv: Vec<i16>,
}

const CLIP_HIGH: f64 = 250.0;
const CLIP_LOW: f64 = 5.0;

impl ClipTables {
    fn new(conv: &ColorConversion) -> ClipTables {
        let c = coefficients(conv);
        let mut thr_r_of_v = [0i16; 256];
        let mut thr_b_of_u = [0i16; 256];
        for code in 0..256usize {
            let d = code as f64 - 128.0;
            // Y >= y0 + (250 - rv d) / ay
            let r = (c.y0 + (CLIP_HIGH - c.rv * d) / c.ay).ceil();
            thr_r_of_v[code] = r.clamp(-1.0, 256.0) as i16;
            // Y <= y0 + (5 - bu d) / ay
            let b = (c.y0 + (CLIP_LOW - c.bu * d) / c.ay).floor();
            thr_b_of_u[code] = b.clamp(-1.0, 256.0) as i16;
        }
        // Y <= y0 + (5 + gu du + gv dv) / ay
        let thr_g_of_uv = (0..65_536usize)
            .map(|uv| {
                let (du, dv) = ((uv >> 8) as f64 - 128.0, (uv & 255) as f64 - 128.0);
                let g = (c.y0 + (CLIP_LOW + c.gu * du + c.gv * dv) / c.ay).floor();
                g.clamp(-1.0, 256.0) as i16
            })
            .collect();
        ClipTables {
            thr_r_of_v,
            thr_b_of_u,
            thr_g_of_uv,
        }
    }

    fn thr_g(&self, u: u8, v: u8) -> i16 {
        self.thr_g_of_uv[(u as usize) << 8 | v as usize]
    }
}

fn row(plane: &[u8], stride: usize, y: usize, x0: usize, x1: usize) -> &[u8] {
    &plane[y * stride + x0..y * stride + x1]
}

fn sum_u8(values: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        sum_u8_sse2(values)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // u16 lanes vectorise well; 128 values of at most 255 cannot overflow them.
        values
            .chunks(128)
            .map(|c| c.iter().map(|&b| b as u16).sum::<u16>() as u64)
            .sum()
    }
}

/// Byte sums with `psadbw` (16 bytes per instruction; SSE2 is part of every x86-64 CPU): the
/// whole-frame luma sum is most of our per-frame work, and LLVM's widening loop is 3x slower.
#[cfg(target_arch = "x86_64")]
fn sum_u8_sse2(values: &[u8]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi64, _mm_loadu_si128, _mm_sad_epu8, _mm_setzero_si128, _mm_storeu_si128,
    };
    let chunks = values.chunks_exact(16);
    let tail: u64 = chunks.remainder().iter().map(|&b| b as u64).sum();
    // SAFETY: SSE2 is baseline on x86_64; every load reads exactly one 16-byte chunk of the
    // slice (unaligned loads allowed) and the store writes into a local 16-byte array.
    unsafe {
        let zero = _mm_setzero_si128();
        let mut acc = _mm_setzero_si128();
        for chunk in chunks {
            let v = _mm_loadu_si128(chunk.as_ptr() as *const __m128i);
            acc = _mm_add_epi64(acc, _mm_sad_epu8(v, zero));
        }
        let mut lanes = [0u64; 2];
        _mm_storeu_si128(lanes.as_mut_ptr() as *mut __m128i, acc);
        lanes[0] + lanes[1] + tail
    }
}

fn min_max(values: &[u8]) -> (u8, u8) {
    let lo = values.iter().copied().min().unwrap_or(u8::MAX);
    let hi = values.iter().copied().max().unwrap_or(u8::MIN);
    (lo, hi)
}

fn count_at_least(values: &[u8], thresholds: &[i16]) -> u32 {
    values
        .iter()
        .zip(thresholds)
        .map(|(&y, &t)| (y as i16 >= t) as u32)
        .sum()
}

fn count_at_most(values: &[u8], thresholds: &[i16]) -> u32 {
    values
        .iter()
        .zip(thresholds)
        .map(|(&y, &t)| (y as i16 <= t) as u32)
        .sum()
}

/// Computes one frame's sample (without its timestamp, set to `t_s`) from its planes.
pub fn frame_sample(
    planes: &Planes<'_>,
    conv: &ColorConversion,
    scratch: &mut StatsScratch,
    t_s: f64,
) -> FrameSample {
    let (w, h) = (planes.width, planes.height);
    let shift = planes.chroma.as_ref().map_or((0, 0), |c| c.shift);
    let region = Region::central(w, h, shift);
    let roi_w = region.x1 - region.x0;
    let roi_h = region.y1 - region.y0;

    // Luma: whole frame, central region, and the region's grid cells in one pass over the rows.
    let mut full_y = 0u64;
    let mut roi_y = 0u64;
    let mut cells = [[0u64; LUMA_GRID_CELLS]; LUMA_GRID_CELLS];
    let cell_x: Vec<usize> = (0..=LUMA_GRID_CELLS)
        .map(|i| region.x0 + i * roi_w / LUMA_GRID_CELLS)
        .collect();
    for yy in 0..h {
        let line = row(planes.luma, planes.luma_stride, yy, 0, w);
        if yy < region.y0 || yy >= region.y1 {
            full_y += sum_u8(line);
            continue;
        }
        let cell_row = &mut cells[(yy - region.y0) * LUMA_GRID_CELLS / roi_h];
        let mut inside = 0u64;
        for (i, cell) in cell_row.iter_mut().enumerate() {
            let s = sum_u8(&line[cell_x[i]..cell_x[i + 1]]);
            *cell += s;
            inside += s;
        }
        roi_y += inside;
        full_y += inside + sum_u8(&line[..region.x0]) + sum_u8(&line[region.x1..]);
    }
    let full_y = full_y as f64 / (w * h) as f64;
    let roi_y_mean = roi_y as f64 / (roi_w * roi_h) as f64;
    let luma_grid_sd = grid_sd(&cells, &cell_x, roi_h, conv);

    let Some(chroma) = planes.chroma.as_ref() else {
        let full = conv.rgb_of_yuv(full_y, 128.0, 128.0);
        let roi = conv.rgb_of_yuv(roi_y_mean, 128.0, 128.0);
        let clipped = clipped_grey(planes, region, conv);
        return FrameSample {
            t_s,
            roi_rgb: roi,
            full_rgb: full,
            clipped_fraction: Some(clipped),
            luma_grid_sd: Some(luma_grid_sd),
        };
    };

    let (sx, sy) = chroma.shift;
    let cw = w.div_ceil(1 << sx);
    let ch = h.div_ceil(1 << sy);
    let (cx0, cx1) = (region.x0 >> sx, region.x1 >> sx);
    let (cy0, cy1) = (region.y0 >> sy, region.y1 >> sy);
    let mut full_u = 0u64;
    let mut full_v = 0u64;
    let mut roi_u = 0u64;
    let mut roi_v = 0u64;
    if scratch.tables.as_ref().is_none_or(|(c, _)| c != conv) {
        scratch.tables = Some((*conv, ClipTables::new(conv)));
    }
    let tables = &scratch.tables.as_ref().expect("tables just set").1;
    scratch.thr_r.resize(roi_w, 0);
    scratch.thr_g.resize(roi_w, 0);
    scratch.thr_b.resize(roi_w, 0);
    let mut clip_counts = [0u64; 3];
    for cy in 0..ch {
        let urow = row(chroma.u, chroma.stride_u, cy, 0, cw);
        let vrow = row(chroma.v, chroma.stride_v, cy, 0, cw);
        if cy < cy0 || cy >= cy1 {
            full_u += sum_u8(urow);
            full_v += sum_u8(vrow);
            continue;
        }
        let (u_in, v_in) = (&urow[cx0..cx1], &vrow[cx0..cx1]);
        let (su, sv) = (sum_u8(u_in), sum_u8(v_in));
        roi_u += su;
        roi_v += sv;
        full_u += su + sum_u8(&urow[..cx0]) + sum_u8(&urow[cx1..]);
        full_v += sv + sum_u8(&vrow[..cx0]) + sum_u8(&vrow[cx1..]);

        // Per-pixel clipping. Thresholds fall with V (red) and U (blue) and rise with U and V
        // (green), so the rows' luma extremes against the extreme chroma bound every pixel:
        // rows that cannot clip (the usual case) cost a few vectorised min/max passes.
        let luma_rows = (cy << sy)..((cy + 1) << sy).min(region.y1);
        let (mut y_min, mut y_max) = (u8::MAX, u8::MIN);
        for yy in luma_rows.clone() {
            let (lo, hi) = min_max(row(
                planes.luma,
                planes.luma_stride,
                yy,
                region.x0,
                region.x1,
            ));
            y_min = y_min.min(lo);
            y_max = y_max.max(hi);
        }
        let (u_min, u_max) = min_max(u_in);
        let v_max = min_max(v_in).1;
        let may_clip = y_max as i16 >= tables.thr_r_of_v[v_max as usize]
            || y_min as i16 <= tables.thr_g(u_max, v_max)
            || y_min as i16 <= tables.thr_b_of_u[u_min as usize];
        if !may_clip {
            continue;
        }
        // Expand this chroma row's thresholds to luma resolution once, then compare every
        // luma pixel it covers (vectorisable, no RGB conversion).
        let rep = 1usize << sx;
        let expanded = scratch
            .thr_r
            .chunks_exact_mut(rep)
            .zip(scratch.thr_g.chunks_exact_mut(rep))
            .zip(scratch.thr_b.chunks_exact_mut(rep));
        for (((r, g), b), (&u, &v)) in expanded.zip(u_in.iter().zip(v_in)) {
            r.fill(tables.thr_r_of_v[v as usize]);
            g.fill(tables.thr_g(u, v));
            b.fill(tables.thr_b_of_u[u as usize]);
        }
        for yy in luma_rows {
            let luma = row(planes.luma, planes.luma_stride, yy, region.x0, region.x1);
            clip_counts[0] += count_at_least(luma, &scratch.thr_r) as u64;
            clip_counts[1] += count_at_most(luma, &scratch.thr_g) as u64;
            clip_counts[2] += count_at_most(luma, &scratch.thr_b) as u64;
        }
    }
    let full_c = (cw * ch) as f64;
    let roi_c = ((cx1 - cx0) * (cy1 - cy0)) as f64;
    let roi_px = (roi_w * roi_h) as f64;
    FrameSample {
        t_s,
        roi_rgb: conv.rgb_of_yuv(roi_y_mean, roi_u as f64 / roi_c, roi_v as f64 / roi_c),
        full_rgb: conv.rgb_of_yuv(full_y, full_u as f64 / full_c, full_v as f64 / full_c),
        clipped_fraction: Some(clip_counts.map(|c| c as f64 / roi_px)),
        luma_grid_sd: Some(luma_grid_sd),
    }
}

/// Standard deviation of the grid cells' mean luma, expressed on the 8-bit RGB scale (so a
/// limited-range stream and a full-range one give the same figure for the same scene).
fn grid_sd(
    cells: &[[u64; LUMA_GRID_CELLS]; LUMA_GRID_CELLS],
    cell_x: &[usize],
    roi_h: usize,
    conv: &ColorConversion,
) -> f64 {
    let scale = coefficients(conv).ay;
    let mut means = Vec::with_capacity(LUMA_GRID_CELLS * LUMA_GRID_CELLS);
    for (r, cell_row) in cells.iter().enumerate() {
        // Rows of cell r: those yy with (yy - y0) * N / roi_h == r.
        let rows = (0..roi_h)
            .filter(|&dy| dy * LUMA_GRID_CELLS / roi_h == r)
            .count();
        for (c, &sum) in cell_row.iter().enumerate() {
            let px = rows * (cell_x[c + 1] - cell_x[c]);
            if px > 0 {
                means.push(sum as f64 / px as f64 * scale);
            }
        }
    }
    let n = means.len().max(1) as f64;
    let mean = means.iter().sum::<f64>() / n;
    (means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / n).sqrt()
}

fn clipped_grey(planes: &Planes<'_>, region: Region, conv: &ColorConversion) -> [f64; 3] {
    let tables = ClipTables::new(conv);
    let (tr, tg, tb) = (
        tables.thr_r_of_v[128],
        tables.thr_g(128, 128),
        tables.thr_b_of_u[128],
    );
    let mut counts = [0u64; 3];
    for yy in region.y0..region.y1 {
        for &y in row(planes.luma, planes.luma_stride, yy, region.x0, region.x1) {
            let y = y as i16;
            counts[0] += (y >= tr) as u64;
            counts[1] += (y <= tg) as u64;
            counts[2] += (y <= tb) as u64;
        }
    }
    let px = ((region.x1 - region.x0) * (region.y1 - region.y0)) as f64;
    counts.map(|c| c as f64 / px)
}
