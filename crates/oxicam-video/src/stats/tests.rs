use super::*;

mod legacy;

fn pseudo_random_plane(len: usize, seed: u32, lo: u16, hi: u16) -> Vec<u16> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            lo + (state % (hi - lo) as u32) as u16
        })
        .collect()
}

/// An owned frame: planes with padded strides, 8-bit or 16-bit little-endian.
struct Frame {
    w: usize,
    h: usize,
    bits: u32,
    shift: (u32, u32),
    /// Samples (row-major, no padding) of Y, U, V (or G, B, R).
    samples: [Vec<u16>; 3],
    bytes: [Vec<u8>; 3],
    strides: [usize; 3],
}

impl Frame {
    fn new(w: usize, h: usize, bits: u32, shift: (u32, u32), samples: [Vec<u16>; 3]) -> Frame {
        let bps = if bits > 8 { 2 } else { 1 };
        let dims = [
            (w, h),
            (w.div_ceil(1 << shift.0), h.div_ceil(1 << shift.1)),
            (w.div_ceil(1 << shift.0), h.div_ceil(1 << shift.1)),
        ];
        let mut strides = [0; 3];
        let bytes = [0, 1, 2].map(|p| {
            let (pw, ph) = dims[p];
            assert_eq!(samples[p].len(), pw * ph);
            // Padding as FFmpeg's: rows rounded up to 64 bytes, plus junk in the padding.
            let stride = (pw * bps).div_ceil(64) * 64 + 64;
            strides[p] = stride;
            let mut out = vec![0xA5u8; stride * ph];
            for y in 0..ph {
                for x in 0..pw {
                    let v = samples[p][y * pw + x];
                    if bps == 1 {
                        out[y * stride + x] = v as u8;
                    } else {
                        out[y * stride + 2 * x..y * stride + 2 * x + 2]
                            .copy_from_slice(&v.to_le_bytes());
                    }
                }
            }
            out
        });
        Frame {
            w,
            h,
            bits,
            shift,
            samples,
            bytes,
            strides,
        }
    }

    fn random(w: usize, h: usize, bits: u32, shift: (u32, u32), seed: u32) -> Frame {
        let (cw, ch) = (w.div_ceil(1 << shift.0), h.div_ceil(1 << shift.1));
        let k = 1u16 << (bits - 8);
        Frame::new(
            w,
            h,
            bits,
            shift,
            [
                pseudo_random_plane(w * h, seed, 16 * k, 236 * k),
                pseudo_random_plane(cw * ch, seed + 1, 16 * k, 241 * k),
                pseudo_random_plane(cw * ch, seed + 2, 16 * k, 241 * k),
            ],
        )
    }

    fn plane(&self, p: usize) -> Plane<'_> {
        Plane {
            data: &self.bytes[p],
            stride: self.strides[p],
        }
    }

    fn yuv(&self) -> Planes<'_> {
        Planes {
            width: self.w,
            height: self.h,
            bits: self.bits,
            luma: self.plane(0),
            colour: Colour::Yuv {
                u: self.plane(1),
                v: self.plane(2),
                shift: self.shift,
            },
        }
    }

    fn legacy_sample(&self, conv: &ColorConversion) -> FrameSample {
        assert_eq!(self.bits, 8);
        let planes = legacy::Planes {
            width: self.w,
            height: self.h,
            luma: &self.bytes[0],
            luma_stride: self.strides[0],
            chroma: Some(legacy::ChromaPlanes {
                u: &self.bytes[1],
                v: &self.bytes[2],
                stride_u: self.strides[1],
                stride_v: self.strides[2],
                shift: self.shift,
            }),
        };
        legacy::frame_sample(&planes, conv, &mut legacy::StatsScratch::default(), 0.0)
    }

    /// Per-pixel reference: each pixel's RGB from its own Y and its chroma sample (8-bit scale
    /// per BT.2100's quantisation), averaged over the central region; clip shares over all
    /// of its rows and over `rows` only.
    fn per_pixel(
        &self,
        conv: &ColorConversion,
        rows: &dyn Fn(usize) -> bool,
    ) -> ([f64; 3], [f64; 3], [f64; 3]) {
        let region = Region::central(self.w, self.h, self.shift);
        let cw = self.w.div_ceil(1 << self.shift.0);
        let scale = CodeScale::new(self.bits, conv.full_range);
        let mut sum = [0.0; 3];
        let mut clip_all = [0.0; 3];
        let mut clip_rows = [0.0; 3];
        let (mut n, mut n_rows) = (0.0, 0.0);
        for yy in region.y0..region.y1 {
            for xx in region.x0..region.x1 {
                let ci = (yy >> self.shift.1) * cw + (xx >> self.shift.0);
                let c =
                    |p: usize| scale.chroma_gain * self.samples[p][ci] as f64 + scale.chroma_offset;
                let y = scale.luma_gain * self.samples[0][yy * self.w + xx] as f64;
                let rgb = conv.rgb_of_yuv(y, c(1), c(2));
                let clipped = [rgb[0] >= 250.0, rgb[1] <= 5.0, rgb[2] <= 5.0];
                for ch in 0..3 {
                    sum[ch] += rgb[ch];
                    clip_all[ch] += clipped[ch] as u8 as f64;
                    if rows(yy) {
                        clip_rows[ch] += clipped[ch] as u8 as f64;
                    }
                }
                n += 1.0;
                if rows(yy) {
                    n_rows += 1.0;
                }
            }
        }
        (
            sum.map(|s| s / n),
            clip_all.map(|c| c / n),
            clip_rows.map(|c| c / n_rows),
        )
    }
}

const CONVERSIONS: [ColorConversion; 3] = [
    ColorConversion::BT601_LIMITED,
    ColorConversion::BT709_LIMITED,
    ColorConversion {
        kr: 0.2627,
        kb: 0.0593,
        full_range: true,
        transfer: Transfer::Sdr,
    },
];

fn assert_close(got: [f64; 3], want: [f64; 3], rel: f64, what: &str) {
    for c in 0..3 {
        let tol = rel * want[c].abs().max(1.0);
        assert!(
            (got[c] - want[c]).abs() <= tol,
            "{what} channel {c}: {got:?} vs {want:?}"
        );
    }
}

#[test]
fn means_and_grid_equal_the_previous_implementation() {
    // Odd and even sizes, every chroma layout; the previous code's means to 1e-9 relative
    // (in fact bit for bit: the sums are the same integers).
    for (i, &(w, h)) in [(64, 48), (101, 67), (640, 360), (1080, 1920)]
        .iter()
        .enumerate()
    {
        for shift in [(1, 1), (1, 0), (0, 0), (0, 1)] {
            let frame = Frame::random(w, h, 8, shift, 7 + i as u32);
            for conv in CONVERSIONS {
                let new = frame_sample(&frame.yuv(), &conv, &mut StatsScratch::default(), 0.0);
                let old = frame.legacy_sample(&conv);
                let what = format!("{w}x{h} {shift:?} {conv:?}");
                assert_close(new.roi_rgb, old.roi_rgb, 1e-9, &what);
                assert_close(new.full_rgb, old.full_rgb, 1e-9, &what);
                assert_eq!(new.roi_rgb, old.roi_rgb, "{what}: bit for bit");
                assert_eq!(new.full_rgb, old.full_rgb, "{what}: bit for bit");
                assert_eq!(new.luma_grid_sd, old.luma_grid_sd, "{what}");
            }
        }
    }
}

#[test]
fn means_and_clip_shares_match_a_per_pixel_conversion_8_and_10_bit() {
    for bits in [8, 10, 12] {
        for shift in [(1, 1), (1, 0), (0, 0)] {
            let frame = Frame::random(64, 48, bits, shift, 3 + bits);
            for conv in CONVERSIONS {
                let sample = frame_sample(&frame.yuv(), &conv, &mut StatsScratch::default(), 0.5);
                let (rgb, clip, _) = frame.per_pixel(&conv, &|_| true);
                let what = format!("{bits}-bit {shift:?} {conv:?}");
                assert_close(sample.roi_rgb, rgb, 1e-9, &what);
                // A 32x24 region is under the sample budget: every pixel is tested.
                assert_close(sample.clipped_fraction.unwrap(), clip, 1e-12, &what);
                assert!(
                    clip.iter().all(|&f| f > 0.0),
                    "random planes clip: {clip:?}"
                );
            }
        }
    }
}

/// A torch-lit fingertip: red near 255 on every row with sensor noise, green and blue low,
/// a vignette towards the edges.
fn fingertip(w: usize, h: usize, bits: u32, seed: u32) -> Frame {
    let conv = ColorConversion::BT709_LIMITED;
    let noise = pseudo_random_plane(w * h + 4096, seed, 0, 1000);
    let k = (1u32 << (bits - 8)) as f64;
    let (cw, ch) = (w / 2, h / 2);
    let rgb_at = |x: usize, y: usize| {
        let (nx, ny) = (x as f64 / w as f64 - 0.5, y as f64 / h as f64 - 0.5);
        let fall = 1.0 - 0.6 * (nx * nx + ny * ny);
        [250.0 * fall, 22.0 * fall, 12.0 * fall]
    };
    let mut y_plane = vec![0u16; w * h];
    let mut u_plane = vec![0u16; cw * ch];
    let mut v_plane = vec![0u16; cw * ch];
    for y in 0..h {
        for x in 0..w {
            let [yy, uu, vv] = conv.yuv_of_rgb(rgb_at(x, y));
            let n = (noise[y * w + x] as f64 / 1000.0 - 0.5) * 10.0;
            y_plane[y * w + x] = ((yy + n) * k).round().clamp(0.0, 255.0 * k) as u16;
            if x % 2 == 0 && y % 2 == 0 {
                let m = (noise[y * w + x + 4096 % (w * h)] as f64 / 1000.0 - 0.5) * 6.0;
                u_plane[(y / 2) * cw + x / 2] = ((uu + m) * k).round() as u16;
                v_plane[(y / 2) * cw + x / 2] = ((vv - m) * k).round() as u16;
            }
        }
    }
    Frame::new(w, h, bits, (1, 1), [y_plane, u_plane, v_plane])
}

#[test]
fn subsampled_clip_shares_keep_their_meaning_on_a_fingertip_frame() {
    let conv = ColorConversion::BT709_LIMITED;
    for (w, h) in [(1080, 1920), (1280, 720)] {
        let frame = fingertip(w, h, 8, 11);
        let region = Region::central(w, h, (1, 1));
        let tested: Vec<usize> = region.clip_rows().collect();
        let new = frame_sample(&frame.yuv(), &conv, &mut StatsScratch::default(), 0.0);
        let (_, all_rows, sampled_rows) = frame.per_pixel(&conv, &|y| tested.contains(&y));
        let got = new.clipped_fraction.unwrap();
        // Exactly the share over the tested rows, and close to the share over all rows.
        assert_close(got, sampled_rows, 1e-12, "tested rows");
        for c in 0..3 {
            assert!(
                (got[c] - all_rows[c]).abs() < 0.01,
                "{w}x{h}: {got:?} vs {all_rows:?}"
            );
        }
        assert!(
            all_rows[0] > 0.1 && all_rows[0] < 0.9,
            "red clips in part: {all_rows:?}"
        );
        assert!(tested.len() * region.width() <= CLIP_SAMPLE_PIXELS + region.width());
        assert!(
            tested.len() < region.height() / 4,
            "{} rows tested",
            tested.len()
        );
        // The old full count agrees too, and so do the means.
        let old = frame.legacy_sample(&conv);
        assert_close(
            old.clipped_fraction.unwrap(),
            all_rows,
            1e-12,
            "previous full count",
        );
        assert_eq!(new.roi_rgb, old.roi_rgb);
    }
}

#[test]
fn ten_bit_fingertip_gives_the_8_bit_colours() {
    let conv = ColorConversion::BT709_LIMITED;
    let eight = frame_sample(
        &fingertip(640, 360, 8, 5).yuv(),
        &conv,
        &mut StatsScratch::default(),
        0.0,
    );
    let ten = frame_sample(
        &fingertip(640, 360, 10, 5).yuv(),
        &conv,
        &mut StatsScratch::default(),
        0.0,
    );
    // The same scene quantised finer: means agree within the 8-bit rounding.
    assert_close(ten.roi_rgb, eight.roi_rgb, 0.01, "roi");
    assert_close(ten.full_rgb, eight.full_rgb, 0.01, "full");
    let (a, b) = (
        ten.clipped_fraction.unwrap(),
        eight.clipped_fraction.unwrap(),
    );
    for c in 0..3 {
        assert!((a[c] - b[c]).abs() < 0.05, "{a:?} vs {b:?}");
    }
    assert!((ten.luma_grid_sd.unwrap() - eight.luma_grid_sd.unwrap()).abs() < 0.05);
}

#[test]
fn planar_rgb_means_grid_and_clips() {
    let (w, h) = (48, 32);
    let g = pseudo_random_plane(w * h, 1, 0, 256);
    let b = pseudo_random_plane(w * h, 2, 0, 256);
    let r = pseudo_random_plane(w * h, 3, 0, 256);
    let frame = Frame::new(w, h, 8, (0, 0), [g.clone(), b.clone(), r.clone()]);
    let planes = Planes {
        width: w,
        height: h,
        bits: 8,
        luma: frame.plane(0),
        colour: Colour::Gbr {
            b: frame.plane(1),
            r: frame.plane(2),
        },
    };
    let conv = ColorConversion {
        full_range: true,
        ..ColorConversion::BT709_LIMITED
    };
    let s = frame_sample(&planes, &conv, &mut StatsScratch::default(), 0.0);
    let region = Region::central(w, h, (0, 0));
    let mut sum = [0.0; 3];
    let mut clip = [0u64; 3];
    let mut n = 0.0;
    for y in region.y0..region.y1 {
        for x in region.x0..region.x1 {
            let rgb = [r[y * w + x], g[y * w + x], b[y * w + x]].map(|v| v as f64);
            for c in 0..3 {
                sum[c] += rgb[c];
            }
            count_rgb(&mut clip, rgb);
            n += 1.0;
        }
    }
    assert_close(s.roi_rgb, sum.map(|v| v / n), 1e-9, "gbr roi");
    assert_close(
        s.clipped_fraction.unwrap(),
        clip.map(|c| c as f64 / n),
        1e-12,
        "gbr clip",
    );
    let full = [&r, &g, &b].map(|p| p.iter().map(|&v| v as f64).sum::<f64>() / (w * h) as f64);
    assert_close(s.full_rgb, full, 1e-9, "gbr full");
    assert!(s.luma_grid_sd.unwrap() > 1.0);
}

#[test]
fn byte_and_word_sums_match_a_plain_sum_at_every_length() {
    let bytes: Vec<u8> = pseudo_random_plane(1000, 5, 0, 256)
        .iter()
        .map(|&v| v as u8)
        .collect();
    let words: Vec<u8> = pseudo_random_plane(1000, 6, 0, 32768)
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut byte_kernels: Vec<(&str, SumFn)> = vec![("portable", sum_u8_portable)];
    let mut word_kernels: Vec<(&str, SumFn)> = vec![("portable", sum_u16_portable)];
    #[cfg(target_arch = "x86_64")]
    {
        byte_kernels.push(("sse2", simd::sum_u8_sse2));
        word_kernels.push(("sse2", simd::sum_u16_sse2));
        if std::arch::is_x86_feature_detected!("avx2") {
            byte_kernels.push(("avx2", simd::sum_u8_avx2));
            word_kernels.push(("avx2", simd::sum_u16_avx2));
        }
    }
    for len in [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 999, 1000] {
        let want: u64 = bytes[..len].iter().map(|&b| b as u64).sum();
        for (name, sum) in &byte_kernels {
            assert_eq!(sum(&bytes[..len]), want, "{name} bytes, length {len}");
        }
        let want: u64 = words[..2 * len]
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]) as u64)
            .sum();
        for (name, sum) in &word_kernels {
            assert_eq!(sum(&words[..2 * len]), want, "{name} words, length {len}");
        }
    }
    // Long runs of the largest values: no lane overflows.
    let big_bytes = vec![255u8; 1 << 20];
    let big_words: Vec<u8> = std::iter::repeat_n(32767u16.to_le_bytes(), 1 << 19)
        .flatten()
        .collect();
    for (name, sum) in &byte_kernels {
        assert_eq!(sum(&big_bytes), 255 << 20, "{name}");
    }
    for (name, sum) in &word_kernels {
        assert_eq!(sum(&big_words), 32767 << 19, "{name}");
    }
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
    let sample = |y: &[u8]| -> FrameSample {
        let p = Planes {
            width: w,
            height: h,
            bits: 8,
            luma: Plane { data: y, stride: w },
            colour: Colour::Grey,
        };
        frame_sample(
            &p,
            &ColorConversion::BT601_LIMITED,
            &mut StatsScratch::default(),
            0.0,
        )
    };
    assert!(sample(&y).luma_grid_sd.unwrap() < 1e-12);
    y[12 * w + 12] = 250;
    assert!(sample(&y).luma_grid_sd.unwrap() > 1.0);
}

#[test]
fn hdr_means_map_to_the_sdr_code_of_the_same_light() {
    // SDR is left alone; an SDR code value coded as HLG (or PQ) comes back.
    assert_eq!(
        Transfer::Sdr.sdr_equivalent([1.0, 128.0, 250.0]),
        [1.0, 128.0, 250.0]
    );
    for sdr in [3.0, 20.0, 26.0, 60.0, 128.0, 200.0, 236.0, 255.0] {
        let light = bt709_inverse_oetf(sdr / 255.0);
        let hlg = if light <= 1.0 / 12.0 {
            (3.0 * light).sqrt()
        } else {
            HLG_A * (12.0 * light - HLG_B).ln() + HLG_C
        };
        let back = Transfer::Hlg.sdr_equivalent([255.0 * hlg; 3]);
        assert!((back[0] - sdr).abs() < 1e-9, "{sdr}: {back:?}");
    }
    // PQ: 1000 cd/m2 is SDR's peak, 100 cd/m2 (PQ code 0.508) about half of it.
    let peak = Transfer::Pq.sdr_equivalent([255.0 * 0.751_827; 3])[0];
    assert!((peak - 255.0).abs() < 0.1, "{peak}");
    let hundred = Transfer::Pq.sdr_equivalent([255.0 * 0.508_078; 3])[0];
    let want = 255.0 * bt709_oetf(0.1);
    assert!((hundred - want).abs() < 0.1, "{hundred} vs {want}");
    // The point of the mapping: a 1 % change of light in HLG's log half is a ~0.2 % change
    // of code value; mapped, it is the ~0.45 % SDR shows.
    let ac_dc = |t: Transfer, light: f64| {
        let code = |l: f64| match t {
            Transfer::Hlg => 255.0 * (HLG_A * (12.0 * l - HLG_B).ln() + HLG_C),
            _ => 255.0 * bt709_oetf(l),
        };
        let (a, b) = (code(light), code(light * 1.01));
        let (a, b) = (t.sdr_equivalent([a; 3])[0], t.sdr_equivalent([b; 3])[0]);
        b / a - 1.0
    };
    let (hlg, sdr) = (ac_dc(Transfer::Hlg, 0.6), ac_dc(Transfer::Sdr, 0.6));
    assert!((hlg - sdr).abs() < 1e-9 && sdr > 0.004, "{hlg} vs {sdr}");
}
