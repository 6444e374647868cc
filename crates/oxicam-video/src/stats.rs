//! Per-frame statistics straight from the decoded Y, U, V planes: regional RGB means, clipped
//! fractions, luma-grid uniformity. No whole-frame RGB conversion, no copies.

use oxicam_signal::FrameSample;

/// Cells per side of the coarse luma grid laid over the central region.
pub const LUMA_GRID_CELLS: usize = 8;

/// The YUV -> RGB conversion a stream declares: matrix coefficients and range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorConversion {
    /// Luma weight of red (Kr) and blue (Kb); green's is 1 - Kr - Kb.
    pub kr: f64,
    pub kb: f64,
    /// Full range (0-255 luma) instead of limited (16-235 luma, 16-240 chroma).
    pub full_range: bool,
}

impl ColorConversion {
    pub const BT601_LIMITED: ColorConversion = ColorConversion {
        kr: 0.299,
        kb: 0.114,
        full_range: false,
    };
    pub const BT709_LIMITED: ColorConversion = ColorConversion {
        kr: 0.2126,
        kb: 0.0722,
        full_range: false,
    };

    /// Coefficients (per 8-bit code value) of the affine map:
    /// R = ay (Y - y0) + rv (V - 128), G = ay (Y - y0) - gu (U - 128) - gv (V - 128),
    /// B = ay (Y - y0) + bu (U - 128).
    fn coefficients(&self) -> Coefficients {
        let kg = 1.0 - self.kr - self.kb;
        let (y0, ay, c_scale) = if self.full_range {
            (0.0, 1.0, 1.0)
        } else {
            (16.0, 255.0 / 219.0, 255.0 / 224.0)
        };
        Coefficients {
            y0,
            ay,
            rv: 2.0 * (1.0 - self.kr) * c_scale,
            gu: 2.0 * self.kb * (1.0 - self.kb) / kg * c_scale,
            gv: 2.0 * self.kr * (1.0 - self.kr) / kg * c_scale,
            bu: 2.0 * (1.0 - self.kb) * c_scale,
        }
    }

    /// RGB (8-bit scale, unclamped) of mean Y, U, V values.
    ///
    /// Exact for means: the conversion is affine, so the mean of the per-pixel RGB equals the
    /// RGB of the mean Y, U, V, as long as no pixel leaves 0-255 (a per-pixel converter clamps
    /// those; `clipped_fraction` reports how many pixels are near that edge) and chroma is
    /// upsampled by any interpolation whose weights sum to one (true of FFmpeg's scalers) over a
    /// region aligned to the chroma grid. Edge effects are below 1/(region width) in weight.
    pub fn rgb_of_yuv(&self, y: f64, u: f64, v: f64) -> [f64; 3] {
        let c = self.coefficients();
        let yl = c.ay * (y - c.y0);
        let (u, v) = (u - 128.0, v - 128.0);
        [yl + c.rv * v, yl - c.gu * u - c.gv * v, yl + c.bu * u]
    }

    /// The inverse: Y, U, V (8-bit code values, unrounded) of an RGB colour.
    pub fn yuv_of_rgb(&self, rgb: [f64; 3]) -> [f64; 3] {
        let c = self.coefficients();
        let [r, g, b] = rgb;
        let kg = 1.0 - self.kr - self.kb;
        let luma = self.kr * r + kg * g + self.kb * b;
        let y = luma / c.ay + c.y0;
        let u = (b - luma) / c.bu + 128.0;
        let v = (r - luma) / c.rv + 128.0;
        [y, u, v]
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
        let c = conv.coefficients();
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
    let scale = conv.coefficients().ay;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-pixel reference: convert every pixel to RGB (chroma replicated), clamp, average.
    fn reference(
        w: usize,
        h: usize,
        y: &[u8],
        u: &[u8],
        v: &[u8],
        conv: &ColorConversion,
    ) -> ([f64; 3], [f64; 3]) {
        let region = Region::central(w, h, (1, 1));
        let mut sum = [0.0; 3];
        let mut clip = [0.0; 3];
        let mut n = 0.0;
        for yy in region.y0..region.y1 {
            for xx in region.x0..region.x1 {
                let ci = (yy / 2) * (w / 2) + xx / 2;
                let rgb = conv.rgb_of_yuv(y[yy * w + xx] as f64, u[ci] as f64, v[ci] as f64);
                for c in 0..3 {
                    sum[c] += rgb[c];
                }
                clip[0] += (rgb[0] >= 250.0) as u8 as f64;
                clip[1] += (rgb[1] <= 5.0) as u8 as f64;
                clip[2] += (rgb[2] <= 5.0) as u8 as f64;
                n += 1.0;
            }
        }
        (sum.map(|s| s / n), clip.map(|c| c / n))
    }

    fn pseudo_random_plane(len: usize, seed: u32, lo: u8, hi: u8) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                lo + (state % (hi - lo) as u32) as u8
            })
            .collect()
    }

    #[test]
    fn plane_means_and_clip_counts_match_a_per_pixel_conversion() {
        let (w, h) = (64, 48);
        let y = pseudo_random_plane(w * h, 7, 16, 236);
        let u = pseudo_random_plane(w * h / 4, 11, 16, 241);
        let v = pseudo_random_plane(w * h / 4, 13, 16, 241);
        for conv in [
            ColorConversion::BT601_LIMITED,
            ColorConversion::BT709_LIMITED,
            ColorConversion {
                full_range: true,
                ..ColorConversion::BT709_LIMITED
            },
        ] {
            let planes = Planes {
                width: w,
                height: h,
                luma: &y,
                luma_stride: w,
                chroma: Some(ChromaPlanes {
                    u: &u,
                    v: &v,
                    stride_u: w / 2,
                    stride_v: w / 2,
                    shift: (1, 1),
                }),
            };
            let sample = frame_sample(&planes, &conv, &mut StatsScratch::default(), 0.5);
            let (rgb, clip) = reference(w, h, &y, &u, &v, &conv);
            for c in 0..3 {
                assert!((sample.roi_rgb[c] - rgb[c]).abs() < 1e-9, "{conv:?} {c}");
                let got = sample.clipped_fraction.unwrap()[c];
                assert!(
                    (got - clip[c]).abs() < 1e-12,
                    "{conv:?} {c}: {got} vs {}",
                    clip[c]
                );
            }
            assert!(
                clip.iter().all(|&f| f > 0.0),
                "random planes clip some pixels"
            );
        }
    }

    #[test]
    fn rows_that_cannot_clip_are_skipped_without_changing_the_counts() {
        let (w, h) = (64, 48);
        // A dull frame with one saturated-red band and one dark-green band.
        let mut y = vec![100u8; w * h];
        let mut u = vec![128u8; w * h / 4];
        let mut v = vec![128u8; w * h / 4];
        for yy in 14..18 {
            y[yy * w + 20..yy * w + 40].fill(230);
        }
        for cy in 7..9 {
            v[cy * w / 2 + 10..cy * w / 2 + 20].fill(200);
        }
        for yy in 28..32 {
            y[yy * w + 16..yy * w + 30].fill(20);
        }
        for cy in 14..16 {
            u[cy * w / 2 + 8..cy * w / 2 + 15].fill(200);
            v[cy * w / 2 + 8..cy * w / 2 + 15].fill(200);
        }
        let conv = ColorConversion::BT709_LIMITED;
        let planes = Planes {
            width: w,
            height: h,
            luma: &y,
            luma_stride: w,
            chroma: Some(ChromaPlanes {
                u: &u,
                v: &v,
                stride_u: w / 2,
                stride_v: w / 2,
                shift: (1, 1),
            }),
        };
        let got = frame_sample(&planes, &conv, &mut StatsScratch::default(), 0.0)
            .clipped_fraction
            .unwrap();
        let (_, want) = reference(w, h, &y, &u, &v, &conv);
        assert!(want[0] > 0.0 && want[1] > 0.0, "{want:?}");
        for c in 0..3 {
            assert!((got[c] - want[c]).abs() < 1e-12, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn byte_sums_match_a_plain_sum_at_every_length() {
        let bytes = pseudo_random_plane(1000, 5, 0, 255);
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 999, 1000] {
            let want: u64 = bytes[..len].iter().map(|&b| b as u64).sum();
            assert_eq!(sum_u8(&bytes[..len]), want, "length {len}");
        }
        assert_eq!(sum_u8(&[255u8; 100_000]), 255 * 100_000);
    }

    #[test]
    fn rgb_round_trips_through_yuv() {
        let conv = ColorConversion::BT709_LIMITED;
        let rgb = [200.0, 40.5, 60.25];
        let [y, u, v] = conv.yuv_of_rgb(rgb);
        let back = conv.rgb_of_yuv(y, u, v);
        for c in 0..3 {
            assert!((back[c] - rgb[c]).abs() < 1e-9);
        }
    }

    #[test]
    fn uniform_frame_has_zero_grid_sd_and_a_bright_spot_does_not() {
        let (w, h) = (32, 32);
        let mut y = vec![100u8; w * h];
        let planes = |y: &[u8]| -> FrameSample {
            let p = Planes {
                width: w,
                height: h,
                luma: y,
                luma_stride: w,
                chroma: None,
            };
            frame_sample(
                &p,
                &ColorConversion::BT601_LIMITED,
                &mut StatsScratch::default(),
                0.0,
            )
        };
        assert!(planes(&y).luma_grid_sd.unwrap() < 1e-12);
        y[12 * w + 12] = 250;
        assert!(planes(&y).luma_grid_sd.unwrap() > 1.0);
    }
}
