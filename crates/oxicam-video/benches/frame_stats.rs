//! Per-frame statistics cost on phone-sized frames, next to the least any exact mean needs:
//! one plain read of every sample (`iter().sum()` over the planes). `cargo bench -p oxicam-video`.
//!
//! Frames are fingertip-like (red near 255 with noise, green and blue low), and cycled through
//! a set larger than the CPU caches, as decoded frames arrive.

use std::hint::black_box;
use std::time::Instant;

use oxicam_video::stats::{frame_sample, ColorConversion, Colour, Plane, Planes, StatsScratch};

struct Frame {
    w: usize,
    h: usize,
    bits: u32,
    planes: [Vec<u8>; 3],
    strides: [usize; 3],
}

fn fingertip(w: usize, h: usize, bits: u32, seed: u64) -> Frame {
    let conv = ColorConversion::BT709_LIMITED;
    let bps = if bits > 8 { 2 } else { 1 };
    let k = (1u32 << (bits - 8)) as f64;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut noise = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        ((state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f64 / (1u64 << 24) as f64) - 0.5
    };
    let strides = [w * bps + 64, w / 2 * bps + 64, w / 2 * bps + 64];
    let mut planes = [
        vec![0u8; strides[0] * h],
        vec![0u8; strides[1] * h / 2],
        vec![0u8; strides[2] * h / 2],
    ];
    let put = |p: usize, x: usize, y: usize, v: f64, planes: &mut [Vec<u8>; 3]| {
        let code = (v * k).round().clamp(0.0, 255.0 * k) as u16;
        let at = y * strides[p] + x * bps;
        if bps == 1 {
            planes[p][at] = code as u8;
        } else {
            planes[p][at..at + 2].copy_from_slice(&code.to_le_bytes());
        }
    };
    for y in 0..h {
        for x in 0..w {
            let (nx, ny) = (x as f64 / w as f64 - 0.5, y as f64 / h as f64 - 0.5);
            let fall = 1.0 - 0.6 * (nx * nx + ny * ny);
            let [yy, u, v] = conv.yuv_of_rgb([250.0 * fall, 22.0 * fall, 12.0 * fall]);
            put(0, x, y, yy + 8.0 * noise(), &mut planes);
            if x % 2 == 0 && y % 2 == 0 {
                put(1, x / 2, y / 2, u + 4.0 * noise(), &mut planes);
                put(2, x / 2, y / 2, v + 4.0 * noise(), &mut planes);
            }
        }
    }
    Frame {
        w,
        h,
        bits,
        planes,
        strides,
    }
}

impl Frame {
    fn planes(&self) -> Planes<'_> {
        let plane = |i: usize| Plane {
            data: &self.planes[i],
            stride: self.strides[i],
        };
        Planes {
            width: self.w,
            height: self.h,
            bits: self.bits,
            luma: plane(0),
            colour: Colour::Yuv {
                u: plane(1),
                v: plane(2),
                shift: (1, 1),
            },
        }
    }

    /// The least an exact mean needs: every sample read once, by the compiler's own loop.
    fn plain_read(&self) -> u64 {
        let bps = if self.bits > 8 { 2 } else { 1 };
        let dims = [
            (self.w, self.h),
            (self.w / 2, self.h / 2),
            (self.w / 2, self.h / 2),
        ];
        let mut total = 0u64;
        for ((plane, &stride), (pw, ph)) in self.planes.iter().zip(&self.strides).zip(dims) {
            for y in 0..ph {
                let row = &plane[y * stride..y * stride + pw * bps];
                total += if bps == 1 {
                    row.iter().map(|&b| b as u32).sum::<u32>() as u64
                } else {
                    row.chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]) as u32)
                        .sum::<u32>() as u64
                };
            }
        }
        total
    }
}

/// Best per-frame time over `rounds` passes through the frames.
fn best_per_frame(frames: &[Frame], rounds: usize, mut f: impl FnMut(&Frame)) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let start = Instant::now();
        for frame in frames {
            f(frame);
        }
        best = best.min(start.elapsed().as_secs_f64() / frames.len() as f64);
    }
    best
}

fn main() {
    let cases = [
        ("1080x1920 8-bit", 1080, 1920, 8, 16),
        ("1280x720 8-bit", 1280, 720, 8, 24),
        ("3840x2160 10-bit", 3840, 2160, 10, 4),
    ];
    println!(
        "per-frame statistics vs one plain read of every sample (frames cycled past the caches)"
    );
    for (name, w, h, bits, count) in cases {
        let frames: Vec<Frame> = (0..count)
            .map(|i| fingertip(w, h, bits, i as u64))
            .collect();
        let conv = ColorConversion::BT709_LIMITED;
        let mut scratch = StatsScratch::default();
        let rounds = 10;
        let stats = best_per_frame(&frames, rounds, |f| {
            black_box(frame_sample(&f.planes(), &conv, &mut scratch, 0.0));
        });
        let read = best_per_frame(&frames, rounds, |f| {
            black_box(f.plain_read());
        });
        let px = (w * h) as f64;
        println!(
            "{name:<18} stats {:7.1} us/frame ({:5.2} ns/px)   plain read {:7.1} us/frame   ratio {:.2}x",
            stats * 1e6,
            stats * 1e9 / px,
            read * 1e6,
            stats / read
        );
    }
}
