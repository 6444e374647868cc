//! Per-frame statistics straight from the decoded planes (8-bit or 9-16-bit YUV, grey, planar
//! RGB): exact regional RGB means and the luma grid in one pass, clipped fractions on a subsample.

use oxicam_signal::FrameSample;

/// Cells per side of the coarse luma grid laid over the central region.
pub const LUMA_GRID_CELLS: usize = 8;

/// At most about this many central-region pixels are tested for clipping per frame: whole
/// rows, evenly spaced. The means need every pixel; a share (the quality gate acts at 25 %
/// over seconds of frames) does not, and testing every pixel of a torch-lit frame (red near
/// 255 on every row) cost as much as all the sums. 16 384 pixels put the standard error of
/// one frame's share below 0.4 % points for independent pixels; regions up to 128x128
/// pixels are tested whole.
pub const CLIP_SAMPLE_PIXELS: usize = 16_384;

/// The YUV -> RGB conversion a stream declares: matrix coefficients and range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorConversion {
    /// Luma weight of red (Kr) and blue (Kb); green's is 1 - Kr - Kb.
    pub kr: f64,
    pub kb: f64,
    /// Full range (0-255 luma) instead of limited (16-235 luma, 16-240 chroma).
    pub full_range: bool,
    /// The transfer function the RGB values are coded with.
    pub transfer: Transfer,
}

impl ColorConversion {
    pub const BT601_LIMITED: ColorConversion = ColorConversion {
        kr: 0.299,
        kb: 0.114,
        full_range: false,
        transfer: Transfer::Sdr,
    };
    pub const BT709_LIMITED: ColorConversion = ColorConversion {
        kr: 0.2126,
        kb: 0.0722,
        full_range: false,
        transfer: Transfer::Sdr,
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

/// How code values relate to light: SDR's gamma curve (BT.709/BT.601/sRGB), or one of the two
/// HDR curves phones record with: HLG (iPhone's default HDR video) and PQ (HDR10).
///
/// The estimator reads a pulse as a relative change (AC/DC) of each channel's mean, and the
/// curve sets how a change of light becomes a change of code value: in HLG's upper, logarithmic
/// half the same pulse is 2-3x smaller than in SDR. So means of HDR streams are mapped to the
/// SDR code value of the same light ([`Transfer::sdr_equivalent`]): per channel, peak to peak
/// (HLG's and PQ's 1000 cd/m2 peak to SDR's 255), primaries kept as coded (converting BT.2020
/// to BT.709 would mix the channels and push a torch-lit red out of gamut).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transfer {
    #[default]
    Sdr,
    /// ARIB STD-B67 / BT.2100 hybrid log-gamma.
    Hlg,
    /// SMPTE ST 2084 / BT.2100 perceptual quantiser.
    Pq,
}

/// BT.709's OETF constants at full precision (alpha, beta): V = alpha L^0.45 - (alpha - 1)
/// above beta, 4.5 L below.
const BT709_ALPHA: f64 = 1.099_296_826_809_44;
const BT709_BETA: f64 = 0.018_053_968_510_807;
/// BT.2100 HLG constants.
const HLG_A: f64 = 0.178_832_77;
const HLG_B: f64 = 0.284_668_92;
const HLG_C: f64 = 0.559_910_73;
/// PQ peak (cd/m2) and the luminance mapped to SDR's peak.
const PQ_PEAK_NITS: f64 = 10_000.0;
const HDR_REFERENCE_PEAK_NITS: f64 = 1_000.0;

impl Transfer {
    /// The SDR (BT.709 OETF) code value, on the 8-bit scale, of the light that `coded` (8-bit
    /// scale, this transfer) stands for. Identity for SDR.
    ///
    /// Applied to frame means rather than to each pixel (exact means need every pixel; this
    /// needs a per-pixel curve): exact for a uniform region; within a region the curve's
    /// bend weighs bright and dark pixels slightly differently, a second-order effect on
    /// AC/DC (tested on an HLG fixture against its SDR original).
    pub fn sdr_equivalent(self, coded: [f64; 3]) -> [f64; 3] {
        if self == Transfer::Sdr {
            return coded;
        }
        coded.map(|v| 255.0 * bt709_oetf(self.linear(v / 255.0)))
    }

    /// Relative scene (HLG) or display (PQ, over 1000 cd/m2) light of a code value in 0-1.
    fn linear(self, e: f64) -> f64 {
        let e = e.max(0.0);
        match self {
            Transfer::Sdr => bt709_inverse_oetf(e),
            Transfer::Hlg => {
                if e <= 0.5 {
                    e * e / 3.0
                } else {
                    (((e - HLG_C) / HLG_A).exp() + HLG_B) / 12.0
                }
            }
            Transfer::Pq => {
                let (m1, m2) = (2610.0 / 16384.0, 2523.0 / 4096.0 * 128.0);
                let (c1, c2, c3) = (
                    3424.0 / 4096.0,
                    2413.0 / 4096.0 * 32.0,
                    2392.0 / 4096.0 * 32.0,
                );
                let p = e.powf(1.0 / m2);
                let y = ((p - c1).max(0.0) / (c2 - c3 * p)).powf(1.0 / m1);
                y * PQ_PEAK_NITS / HDR_REFERENCE_PEAK_NITS
            }
        }
    }
}

fn bt709_oetf(l: f64) -> f64 {
    if l < BT709_BETA {
        4.5 * l.max(0.0)
    } else {
        BT709_ALPHA * l.powf(0.45) - (BT709_ALPHA - 1.0)
    }
}

fn bt709_inverse_oetf(v: f64) -> f64 {
    if v < 4.5 * BT709_BETA {
        v / 4.5
    } else {
        ((v + BT709_ALPHA - 1.0) / BT709_ALPHA).powf(1.0 / 0.45)
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

/// One plane: rows of `stride` bytes.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
}

/// What the planes after the first hold.
#[derive(Debug, Clone, Copy)]
pub enum Colour<'a> {
    /// Luma only: chroma is neutral (128).
    Grey,
    /// Chroma planes; `shift` is log2 of the subsampling (x, y): (1, 1) for 4:2:0, (1, 0) for
    /// 4:2:2, (0, 0) for 4:4:4.
    Yuv {
        u: Plane<'a>,
        v: Plane<'a>,
        shift: (u32, u32),
    },
    /// Planar RGB (FFmpeg's GBR formats): the first plane is green.
    Gbr { b: Plane<'a>, r: Plane<'a> },
}

/// Borrowed planes of one frame.
#[derive(Debug, Clone, Copy)]
pub struct Planes<'a> {
    pub width: usize,
    pub height: usize,
    /// Bits per sample: 8 (one byte each) or 9-16 (two bytes each, little-endian, as FFmpeg's
    /// native formats on x86 and ARM).
    pub bits: u32,
    /// Luma, or green for planar RGB.
    pub luma: Plane<'a>,
    pub colour: Colour<'a>,
}

impl Planes<'_> {
    fn chroma_shift(&self) -> (u32, u32) {
        match self.colour {
            Colour::Yuv { shift, .. } => shift,
            Colour::Grey | Colour::Gbr { .. } => (0, 0),
        }
    }

    fn bytes_per_sample(&self) -> usize {
        if self.bits > 8 {
            2
        } else {
            1
        }
    }
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

    fn width(&self) -> usize {
        self.x1 - self.x0
    }

    fn height(&self) -> usize {
        self.y1 - self.y0
    }

    fn subsampled(&self, (sx, sy): (u32, u32)) -> Region {
        Region {
            x0: self.x0 >> sx,
            x1: self.x1 >> sx,
            y0: self.y0 >> sy,
            y1: self.y1 >> sy,
        }
    }

    /// The rows tested for clipping: every `step`-th from the top, with `step` odd when above
    /// one so that the rows visit every phase of the codecs' 4/8/16-row blocks.
    fn clip_rows(&self) -> std::iter::StepBy<std::ops::Range<usize>> {
        let mut step = (self.width() * self.height())
            .div_ceil(CLIP_SAMPLE_PIXELS)
            .max(1);
        if step > 1 && step % 2 == 0 {
            step += 1;
        }
        (self.y0..self.y1).step_by(step)
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

/// Per-pixel clip thresholds on 8-bit luma for one chroma sample: a pixel has R >= 250 when
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

/// Maps code values of a `bits`-deep plane to the 8-bit scale the conversion works in:
/// `value8 = gain * code + offset` (BT.2100's quantisation: limited range scales by
/// 2^(bits-8), full range by 255 / (2^bits - 1) around a chroma centre of 2^(bits-1)).
#[derive(Debug, Clone, Copy, PartialEq)]
struct CodeScale {
    luma_gain: f64,
    chroma_gain: f64,
    chroma_offset: f64,
}

impl CodeScale {
    fn new(bits: u32, full_range: bool) -> CodeScale {
        if full_range {
            let max = ((1u64 << bits) - 1) as f64;
            let gain = 255.0 / max;
            CodeScale {
                luma_gain: gain,
                chroma_gain: gain,
                chroma_offset: 128.0 - gain * (1u64 << (bits - 1)) as f64,
            }
        } else {
            let gain = 1.0 / (1u64 << (bits - 8)) as f64;
            CodeScale {
                luma_gain: gain,
                chroma_gain: gain,
                chroma_offset: 0.0,
            }
        }
    }
}

/// Byte rows of a plane's samples `x0..x1` on row `y`.
fn row<'a>(plane: &Plane<'a>, bytes_per_sample: usize, y: usize, x0: usize, x1: usize) -> &'a [u8] {
    let start = y * plane.stride;
    &plane.data[start + x0 * bytes_per_sample..start + x1 * bytes_per_sample]
}

/// Sum of a row of samples stored as bytes (8-bit) or little-endian pairs (9-16-bit).
type SumFn = fn(&[u8]) -> u64;

/// The fastest sum kernels this CPU runs, chosen once per process.
#[derive(Clone, Copy)]
struct Kernels {
    u8: SumFn,
    u16: SumFn,
}

fn kernels() -> Kernels {
    static KERNELS: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
    *KERNELS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                return Kernels {
                    u8: simd::sum_u8_avx2,
                    u16: simd::sum_u16_avx2,
                };
            }
            Kernels {
                u8: simd::sum_u8_sse2,
                u16: simd::sum_u16_sse2,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Kernels {
                u8: sum_u8_portable,
                u16: sum_u16_portable,
            }
        }
    })
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn sum_u8_portable(values: &[u8]) -> u64 {
    // u16 lanes vectorise well; 128 values of at most 255 cannot overflow them.
    values
        .chunks(128)
        .map(|c| c.iter().map(|&b| b as u16).sum::<u16>() as u64)
        .sum()
}

fn sum_u16_portable(bytes: &[u8]) -> u64 {
    bytes
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]) as u64)
        .sum()
}

/// Byte and word sums with SSE2 (baseline on x86-64) or AVX2 (checked at run time): the sums
/// over every pixel are most of our per-frame work, and LLVM's widening loops are 3x slower.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    pub fn sum_u8_sse2(values: &[u8]) -> u64 {
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

    pub fn sum_u8_avx2(values: &[u8]) -> u64 {
        // SAFETY: only chosen after `is_x86_feature_detected!("avx2")`.
        unsafe { sum_u8_avx2_impl(values) }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn sum_u8_avx2_impl(values: &[u8]) -> u64 {
        let chunks = values.chunks_exact(32);
        let rest = chunks.remainder();
        let zero = _mm256_setzero_si256();
        let mut acc = _mm256_setzero_si256();
        for chunk in chunks {
            // SAFETY: the load reads exactly one 32-byte chunk of the slice.
            let v = unsafe { _mm256_loadu_si256(chunk.as_ptr() as *const __m256i) };
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(v, zero));
        }
        let mut lanes = [0u64; 4];
        // SAFETY: writes 32 bytes into a local 32-byte array.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc) };
        lanes.iter().sum::<u64>() + sum_u8_sse2(rest)
    }

    /// Little-endian u16 samples: `pmaddwd` against ones adds pairs into i32 lanes. Samples
    /// must stay below 2^15 (the decoders' depths go to 12 or 14 bits); deeper ones go the
    /// portable way. A lane grows by at most 2^16 per 8 samples, so a flush every 2^14
    /// vectors keeps it below 2^31.
    pub fn sum_u16_sse2(bytes: &[u8]) -> u64 {
        let chunks = bytes.chunks_exact(16);
        let tail = super::sum_u16_portable(chunks.remainder());
        let mut total = 0u64;
        // SAFETY: SSE2 is baseline; loads read one 16-byte chunk each, the store a local array.
        unsafe {
            let ones = _mm_set1_epi16(1);
            let mut acc = _mm_setzero_si128();
            for (i, chunk) in chunks.enumerate() {
                let v = _mm_loadu_si128(chunk.as_ptr() as *const __m128i);
                acc = _mm_add_epi32(acc, _mm_madd_epi16(v, ones));
                if i % 16_384 == 16_383 {
                    total += flush128(acc);
                    acc = _mm_setzero_si128();
                }
            }
            total += flush128(acc);
        }
        total + tail
    }

    unsafe fn flush128(acc: __m128i) -> u64 {
        let mut lanes = [0u32; 4];
        // SAFETY: writes 16 bytes into a local 16-byte array.
        unsafe { _mm_storeu_si128(lanes.as_mut_ptr() as *mut __m128i, acc) };
        lanes.iter().map(|&l| l as u64).sum()
    }

    pub fn sum_u16_avx2(bytes: &[u8]) -> u64 {
        // SAFETY: only chosen after `is_x86_feature_detected!("avx2")`.
        unsafe { sum_u16_avx2_impl(bytes) }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn sum_u16_avx2_impl(bytes: &[u8]) -> u64 {
        let chunks = bytes.chunks_exact(32);
        let rest = chunks.remainder();
        let ones = _mm256_set1_epi16(1);
        let mut acc = _mm256_setzero_si256();
        let mut total = 0u64;
        let flush = |acc: __m256i| {
            let mut lanes = [0u32; 8];
            // SAFETY: writes 32 bytes into a local 32-byte array.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc) };
            lanes.iter().map(|&l| l as u64).sum::<u64>()
        };
        for (i, chunk) in chunks.enumerate() {
            // SAFETY: the load reads exactly one 32-byte chunk of the slice.
            let v = unsafe { _mm256_loadu_si256(chunk.as_ptr() as *const __m256i) };
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v, ones));
            if i % 16_384 == 16_383 {
                total += flush(acc);
                acc = _mm256_setzero_si256();
            }
        }
        total + flush(acc) + sum_u16_sse2(rest)
    }
}

/// Sums over one plane: all of it, a region, and (optionally) the region's grid cells.
struct PlaneSums {
    full: u64,
    region: u64,
    cells: [[u64; LUMA_GRID_CELLS]; LUMA_GRID_CELLS],
}

/// One pass over the plane's rows; in the region's rows the row is summed as the pieces left
/// of, inside and right of the region (inside: one piece per grid column when `grid`).
fn plane_sums(
    plane: &Plane<'_>,
    (w, h): (usize, usize),
    bits: u32,
    region: Region,
    grid: bool,
) -> PlaneSums {
    let bps = if bits > 8 { 2 } else { 1 };
    let k = kernels();
    let sum: SumFn = match bits {
        8 => k.u8,
        9..=15 => k.u16,
        _ => sum_u16_portable,
    };
    let cells_across = if grid { LUMA_GRID_CELLS } else { 1 };
    let mut cell_x = [region.x1; LUMA_GRID_CELLS + 1];
    for (i, x) in cell_x.iter_mut().enumerate().take(cells_across) {
        *x = region.x0 + i * region.width() / cells_across;
    }
    let mut sums = PlaneSums {
        full: 0,
        region: 0,
        cells: [[0; LUMA_GRID_CELLS]; LUMA_GRID_CELLS],
    };
    for y in 0..h {
        let line = row(plane, bps, y, 0, w);
        if y < region.y0 || y >= region.y1 {
            sums.full += sum(line);
            continue;
        }
        let cell_row = &mut sums.cells[(y - region.y0) * LUMA_GRID_CELLS / region.height()];
        let mut inside = 0u64;
        for (i, cell) in cell_row.iter_mut().enumerate().take(cells_across) {
            let s = sum(&line[cell_x[i] * bps..cell_x[i + 1] * bps]);
            *cell += s;
            inside += s;
        }
        sums.region += inside;
        sums.full += inside + sum(&line[..region.x0 * bps]) + sum(&line[region.x1 * bps..]);
    }
    sums
}

/// Computes one frame's sample (timestamp `t_s`) from its planes.
pub fn frame_sample(
    planes: &Planes<'_>,
    conv: &ColorConversion,
    scratch: &mut StatsScratch,
    t_s: f64,
) -> FrameSample {
    let (w, h) = (planes.width, planes.height);
    let region = Region::central(w, h, planes.chroma_shift());
    let full_px = (w * h) as f64;
    let roi_px = (region.width() * region.height()) as f64;
    let first = plane_sums(&planes.luma, (w, h), planes.bits, region, true);
    let scale = CodeScale::new(planes.bits, conv.full_range);

    let (roi_rgb, full_rgb, grid_sd) = match planes.colour {
        Colour::Grey => {
            let (full_y, roi_y) = luma_means(&first, full_px, roi_px, planes.bits, &scale);
            let neutral = 128.0;
            (
                conv.rgb_of_yuv(roi_y, neutral, neutral),
                conv.rgb_of_yuv(full_y, neutral, neutral),
                grid_sd(&luma_cells(&first, region, planes.bits, &scale, conv)),
            )
        }
        Colour::Yuv { u, v, shift } => {
            let (cw, ch) = (w.div_ceil(1 << shift.0), h.div_ceil(1 << shift.1));
            let c_region = region.subsampled(shift);
            let su = plane_sums(&u, (cw, ch), planes.bits, c_region, false);
            let sv = plane_sums(&v, (cw, ch), planes.bits, c_region, false);
            let (full_y, roi_y) = luma_means(&first, full_px, roi_px, planes.bits, &scale);
            let (full_c, roi_c) = (
                (cw * ch) as f64,
                (c_region.width() * c_region.height()) as f64,
            );
            let chroma = |sum: u64, n: f64| {
                let mean = sum as f64 / n;
                if planes.bits == 8 {
                    mean
                } else {
                    scale.chroma_gain * mean + scale.chroma_offset
                }
            };
            (
                conv.rgb_of_yuv(roi_y, chroma(su.region, roi_c), chroma(sv.region, roi_c)),
                conv.rgb_of_yuv(full_y, chroma(su.full, full_c), chroma(sv.full, full_c)),
                grid_sd(&luma_cells(&first, region, planes.bits, &scale, conv)),
            )
        }
        Colour::Gbr { b, r } => {
            let sb = plane_sums(&b, (w, h), planes.bits, region, true);
            let sr = plane_sums(&r, (w, h), planes.bits, region, true);
            let rgb = RgbScale::new(planes.bits, conv.full_range);
            let mean = |s: &PlaneSums, n: f64, roi: bool| {
                rgb.to_8bit(if roi { s.region } else { s.full } as f64 / n)
            };
            let channels = [&sr, &first, &sb];
            let roi = channels.map(|s| mean(s, roi_px, true));
            let full = channels.map(|s| mean(s, full_px, false));
            // Luma is linear in R, G, B, so cell luma is the weighted cell means.
            let kg = 1.0 - conv.kr - conv.kb;
            let cells = cell_means(region, |r, c, px| {
                let m = |s: &PlaneSums| rgb.to_8bit(s.cells[r][c] as f64 / px);
                conv.kr * m(&sr) + kg * m(&first) + conv.kb * m(&sb)
            });
            (roi, full, grid_sd(&cells))
        }
    };
    FrameSample {
        t_s,
        roi_rgb: conv.transfer.sdr_equivalent(roi_rgb),
        full_rgb: conv.transfer.sdr_equivalent(full_rgb),
        clipped_fraction: Some(clipped_fraction(planes, region, conv, scratch)),
        luma_grid_sd: Some(grid_sd),
    }
}

/// Whole-frame and central means of the luma plane on the 8-bit scale.
fn luma_means(
    sums: &PlaneSums,
    full_px: f64,
    roi_px: f64,
    bits: u32,
    scale: &CodeScale,
) -> (f64, f64) {
    let (full, roi) = (sums.full as f64 / full_px, sums.region as f64 / roi_px);
    if bits == 8 {
        (full, roi)
    } else {
        (scale.luma_gain * full, scale.luma_gain * roi)
    }
}

/// Grid cell mean luma, expressed on the 8-bit RGB scale (so a limited-range stream and a
/// full-range one give the same figure for the same scene).
fn luma_cells(
    sums: &PlaneSums,
    region: Region,
    bits: u32,
    scale: &CodeScale,
    conv: &ColorConversion,
) -> Vec<f64> {
    let ay = conv.coefficients().ay;
    let gain = if bits == 8 { 1.0 } else { scale.luma_gain };
    cell_means(region, |r, c, px| sums.cells[r][c] as f64 / px * gain * ay)
}

/// `value(row, column, pixels)` for every non-empty grid cell of the region.
fn cell_means(region: Region, value: impl Fn(usize, usize, f64) -> f64) -> Vec<f64> {
    let n = LUMA_GRID_CELLS;
    let mut means = Vec::with_capacity(n * n);
    for r in 0..n {
        // Rows of cell r: those dy with dy * N / height == r, i.e. from ceil(r height / N)
        // up to ceil((r + 1) height / N).
        let first_row = |r: usize| (r * region.height()).div_ceil(n);
        let rows = first_row(r + 1) - first_row(r);
        for c in 0..n {
            let cols = (c + 1) * region.width() / n - c * region.width() / n;
            let px = rows * cols;
            if px > 0 {
                means.push(value(r, c, px as f64));
            }
        }
    }
    means
}

/// Population standard deviation.
fn grid_sd(means: &[f64]) -> f64 {
    let n = means.len().max(1) as f64;
    let mean = means.iter().sum::<f64>() / n;
    (means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// Planar RGB code values to the 8-bit scale (limited-range RGB is rare but declared so).
struct RgbScale {
    gain: f64,
    offset: f64,
}

impl RgbScale {
    fn new(bits: u32, full_range: bool) -> RgbScale {
        if full_range {
            RgbScale {
                gain: 255.0 / ((1u64 << bits) - 1) as f64,
                offset: 0.0,
            }
        } else {
            let to8 = 1.0 / (1u64 << (bits - 8)) as f64;
            RgbScale {
                gain: to8 * 255.0 / 219.0,
                offset: -16.0 * 255.0 / 219.0,
            }
        }
    }

    fn to_8bit(&self, code: f64) -> f64 {
        self.gain * code + self.offset
    }
}

/// Shares of central-region pixels with R >= 250, G <= 5, B <= 5 (8-bit RGB scale), over the
/// rows [`Region::clip_rows`] picks.
fn clipped_fraction(
    planes: &Planes<'_>,
    region: Region,
    conv: &ColorConversion,
    scratch: &mut StatsScratch,
) -> [f64; 3] {
    let mut counts = [0u64; 3];
    let mut rows = 0usize;
    let bps = planes.bytes_per_sample();
    let (x0, x1) = (region.x0, region.x1);
    let code = |bytes: &[u8], i: usize| -> f64 {
        if bps == 1 {
            bytes[i] as f64
        } else {
            u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]) as f64
        }
    };
    match planes.colour {
        Colour::Yuv { u, v, shift } if planes.bits == 8 => {
            if scratch.tables.as_ref().is_none_or(|(c, _)| c != conv) {
                scratch.tables = Some((*conv, ClipTables::new(conv)));
            }
            let tables = &scratch.tables.as_ref().expect("tables just set").1;
            let (sx, sy) = shift;
            let (cx0, cx1) = (x0 >> sx, x1 >> sx);
            for yy in region.clip_rows() {
                let cy = yy >> sy;
                let (u_in, v_in) = (row(&u, 1, cy, cx0, cx1), row(&v, 1, cy, cx0, cx1));
                // Expand this chroma row's thresholds to luma resolution, then compare every
                // luma pixel (vectorisable, no RGB conversion).
                let n = region.width();
                scratch.thr_r.resize(n, 0);
                scratch.thr_g.resize(n, 0);
                scratch.thr_b.resize(n, 0);
                let (thr_r, thr_g, thr_b) = (
                    &mut scratch.thr_r[..n],
                    &mut scratch.thr_g[..n],
                    &mut scratch.thr_b[..n],
                );
                for (i, (&u, &v)) in u_in.iter().zip(v_in).enumerate() {
                    let t = [
                        tables.thr_r_of_v[v as usize],
                        tables.thr_g(u, v),
                        tables.thr_b_of_u[u as usize],
                    ];
                    for x in i << sx..(i + 1) << sx {
                        thr_r[x] = t[0];
                        thr_g[x] = t[1];
                        thr_b[x] = t[2];
                    }
                }
                let luma = row(&planes.luma, 1, yy, x0, x1);
                counts[0] += count_at_least(luma, &scratch.thr_r) as u64;
                counts[1] += count_at_most(luma, &scratch.thr_g) as u64;
                counts[2] += count_at_most(luma, &scratch.thr_b) as u64;
                rows += 1;
            }
        }
        Colour::Grey if planes.bits == 8 => {
            let tables = ClipTables::new(conv);
            let thr = [
                tables.thr_r_of_v[128],
                tables.thr_g(128, 128),
                tables.thr_b_of_u[128],
            ];
            for yy in region.clip_rows() {
                for &y in row(&planes.luma, 1, yy, x0, x1) {
                    let y = y as i16;
                    counts[0] += (y >= thr[0]) as u64;
                    counts[1] += (y <= thr[1]) as u64;
                    counts[2] += (y <= thr[2]) as u64;
                }
                rows += 1;
            }
        }
        Colour::Grey | Colour::Yuv { .. } => {
            // Deep samples: convert each tested pixel (a small share of a frame whose decoding
            // costs far more per pixel than 8-bit video).
            let scale = CodeScale::new(planes.bits, conv.full_range);
            let c = conv.coefficients();
            let to8 = |code: f64| scale.chroma_gain * code + scale.chroma_offset - 128.0;
            for yy in region.clip_rows() {
                let luma = row(&planes.luma, bps, yy, x0, x1);
                let chroma = match planes.colour {
                    Colour::Yuv { u, v, shift } => {
                        let (cx0, cx1) = (x0 >> shift.0, x1 >> shift.0);
                        let cy = yy >> shift.1;
                        Some((
                            row(&u, bps, cy, cx0, cx1),
                            row(&v, bps, cy, cx0, cx1),
                            shift.0,
                        ))
                    }
                    _ => None,
                };
                for i in 0..region.width() {
                    let (du, dv) = match chroma {
                        Some((u, v, sx)) => (to8(code(u, i >> sx)), to8(code(v, i >> sx))),
                        None => (0.0, 0.0),
                    };
                    let yl = c.ay * (scale.luma_gain * code(luma, i) - c.y0);
                    let rgb = [yl + c.rv * dv, yl - c.gu * du - c.gv * dv, yl + c.bu * du];
                    count_rgb(&mut counts, rgb);
                }
                rows += 1;
            }
        }
        Colour::Gbr { b, r } => {
            let scale = RgbScale::new(planes.bits, conv.full_range);
            for yy in region.clip_rows() {
                let lines = [&r, &planes.luma, &b].map(|p| row(p, bps, yy, x0, x1));
                for i in 0..region.width() {
                    count_rgb(&mut counts, lines.map(|l| scale.to_8bit(code(l, i))));
                }
                rows += 1;
            }
        }
    }
    let tested = (rows * region.width()).max(1) as f64;
    counts.map(|c| c as f64 / tested)
}

fn count_rgb(counts: &mut [u64; 3], [r, g, b]: [f64; 3]) {
    counts[0] += (r >= CLIP_HIGH) as u64;
    counts[1] += (g <= CLIP_LOW) as u64;
    counts[2] += (b <= CLIP_LOW) as u64;
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

#[cfg(test)]
mod tests;
