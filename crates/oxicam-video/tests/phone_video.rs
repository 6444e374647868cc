//! Video as phones record it: torch-lit fingertips (red near 255 on every row, noisy), and the
//! iPhone's default HDR video (HEVC Main 10, HLG, BT.2020, MOV, 60 fps, rotated portrait).
//! The decoded means are checked against plain per-pixel sums over independently decoded frames.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use ffmpeg_next as ff;
use oxicam_video::stats::{ColorConversion, Transfer};
use oxicam_video::synth::{self, Codec};

/// Plain means of one decoded frame: whole-frame and central-region Y, U, V on the 8-bit
/// scale, summed pixel by pixel (no SIMD, no row pieces): the reference for the decoder.
struct PlainMeans {
    full: [f64; 3],
    roi: [f64; 3],
    conversion: ColorConversion,
}

fn plain_means(frame: &ff::frame::Video) -> PlainMeans {
    let deep = !matches!(frame.format(), ff::format::Pixel::YUV420P);
    assert!(
        matches!(
            frame.format(),
            ff::format::Pixel::YUV420P | ff::format::Pixel::YUV420P10LE
        ),
        "{:?}",
        frame.format()
    );
    let sample = |plane: usize, x: usize, y: usize| -> f64 {
        let data = frame.data(plane);
        let at = y * frame.stride(plane);
        if deep {
            u16::from_le_bytes([data[at + 2 * x], data[at + 2 * x + 1]]) as f64 / 4.0
        } else {
            data[at + x] as f64
        }
    };
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let even = |v: usize| v & !1;
    let (x0, x1, y0, y1) = (even(w / 4), even(w - w / 4), even(h / 4), even(h - h / 4));
    let mut full = [0.0; 3];
    let mut roi = [0.0; 3];
    for plane in 0..3 {
        let s = if plane == 0 { 0 } else { 1 };
        let (pw, ph) = (w.div_ceil(1 << s), h.div_ceil(1 << s));
        let (mut all, mut inside) = (0.0, 0.0);
        for y in 0..ph {
            for x in 0..pw {
                let v = sample(plane, x, y);
                all += v;
                if (x0 >> s..x1 >> s).contains(&x) && (y0 >> s..y1 >> s).contains(&y) {
                    inside += v;
                }
            }
        }
        full[plane] = all / (pw * ph) as f64;
        roi[plane] = inside / (((x1 - x0) >> s) * ((y1 - y0) >> s)) as f64;
    }
    let (kr, kb) = match frame.color_space() {
        ff::color::Space::BT709 => (0.2126, 0.0722),
        ff::color::Space::BT2020NCL => (0.2627, 0.0593),
        other => panic!("fixture colour space {other:?}"),
    };
    let transfer = match frame.color_transfer_characteristic() {
        ff::color::TransferCharacteristic::ARIB_STD_B67 => Transfer::Hlg,
        _ => Transfer::Sdr,
    };
    PlainMeans {
        full,
        roi,
        conversion: ColorConversion {
            kr,
            kb,
            full_range: false,
            transfer,
        },
    }
}

/// Every frame of `path`, decoded single-threaded with ffmpeg-next directly.
fn plain_decode(path: &Path) -> Vec<PlainMeans> {
    ff::init().unwrap();
    let mut input = ff::format::input(&path).unwrap();
    let stream = input.streams().best(ff::media::Type::Video).unwrap();
    let index = stream.index();
    let mut decoder = ff::codec::context::Context::from_parameters(stream.parameters())
        .unwrap()
        .decoder()
        .video()
        .unwrap();
    let mut frames = Vec::new();
    let mut frame = ff::frame::Video::empty();
    let mut packets = Vec::new();
    for (stream, packet) in input.packets() {
        if stream.index() == index {
            packets.push(packet);
        }
    }
    for packet in packets {
        decoder.send_packet(&packet).unwrap();
        while decoder.receive_frame(&mut frame).is_ok() {
            frames.push(plain_means(&frame));
        }
    }
    decoder.send_eof().unwrap();
    while decoder.receive_frame(&mut frame).is_ok() {
        frames.push(plain_means(&frame));
    }
    frames
}

fn assert_rel_close(got: [f64; 3], want: [f64; 3], rel: f64, what: &str) {
    for c in 0..3 {
        assert!(
            (got[c] - want[c]).abs() <= rel * want[c].abs().max(1.0),
            "{what} channel {c}: {got:?} vs {want:?}"
        );
    }
}

/// A fingertip on the torch: the embedded real trace scaled to red ~244, green ~26, blue ~16
/// (relative pulse kept), with sensor-like noise; the texture's bright centre clips red.
fn fingertip_trace() -> Vec<[f64; 3]> {
    let trace = synth::embedded_trace();
    let mean = [0, 1, 2].map(|c| trace.iter().map(|r| r[c]).sum::<f64>() / trace.len() as f64);
    let target = [244.0, 26.0, 16.0];
    trace
        .iter()
        .map(|r| [0, 1, 2].map(|c| target[c] * r[c] / mean[c]))
        .collect()
}

#[test]
fn torch_lit_fingertip_means_equal_plain_sums_and_red_clips_in_part() {
    let dir = temp_dir();
    let truth = render(
        dir.path(),
        "finger.mp4",
        Codec::H264,
        (1080, 1920),
        1.0,
        |o| {
            o.trace = fingertip_trace();
            o.noise = 2.5;
            o.rotation_deg = 90;
        },
    );
    let decoded = decode(&truth.path);
    let plain = plain_decode(&truth.path);
    assert_eq!(decoded.trace.samples.len(), plain.len());
    for (s, p) in decoded.trace.samples.iter().zip(&plain) {
        let conv = p.conversion;
        let [y, u, v] = p.roi;
        assert_rel_close(s.roi_rgb, conv.rgb_of_yuv(y, u, v), 1e-9, "central");
        let [y, u, v] = p.full;
        assert_rel_close(s.full_rgb, conv.rgb_of_yuv(y, u, v), 1e-9, "full frame");
        let clipped = s.clipped_fraction.unwrap();
        assert!(
            clipped[0] > 0.05 && clipped[0] < 0.95,
            "red clips in part: {clipped:?}"
        );
        assert!(clipped[1] < 0.01 && clipped[2] < 0.05, "{clipped:?}");
    }
    assert_eq!(decoded.meta.rotation_deg, 90);
    assert_matches_truth(&decoded, &truth, 0.95);
}

/// `ffmpeg` CLI: re-encodes an SDR (BT.709) clip as an iPhone's HDR video: each channel's light
/// through the HLG curve (BT.2100) at 16 bits, BT.2020 matrix, 10-bit 4:2:0, HEVC Main 10 by
/// libx265, tagged HLG / BT.2020, `hvc1` in MOV; the display rotation is kept.
fn as_iphone_hlg(src: &Path, dst: PathBuf) -> PathBuf {
    // V (SDR code, 0-1) -> scene light L (BT.709 inverse OETF) -> HLG code.
    let curve = "st(0,val/maxval);\
        st(1,if(lt(ld(0),0.0812428582986),ld(0)/4.5,pow((ld(0)+0.09929682680944)/1.09929682680944,1/0.45)));\
        if(lte(ld(1),1/12),sqrt(3*ld(1)),0.17883277*log(12*ld(1)-0.28466892)+0.55991073)*maxval";
    let filters = format!(
        "scale=in_color_matrix=bt709:in_range=tv:out_range=pc,format=gbrp16le,\
         lutrgb=r='{curve}':g='{curve}':b='{curve}',\
         scale=out_color_matrix=bt2020:out_range=tv,format=yuv420p10le"
    );
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-noautorotate", "-i"])
        .arg(src)
        .args(["-vf", &filters])
        .args(["-c:v", "libx265", "-preset", "ultrafast", "-crf", "4"])
        .args([
            "-x265-params",
            "log-level=error:profile=main10:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc:range=limited",
        ])
        .args(["-color_primaries", "bt2020", "-color_trc", "arib-std-b67"])
        .args(["-colorspace", "bt2020nc", "-color_range", "tv", "-tag:v", "hvc1"])
        .arg(&dst)
        .status()
        .expect("the ffmpeg CLI is installed (scripts/test.sh installs it)");
    assert!(status.success(), "ffmpeg HLG re-encode");
    dst
}

/// AC/DC of a channel: SD after removing a 1 s moving average, over the mean.
fn ac_over_dc(x: &[f64], fps: usize) -> f64 {
    let half = fps / 2;
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let ac: Vec<f64> = (half..x.len() - half)
        .map(|i| x[i] - x[i - half..=i + half].iter().sum::<f64>() / (2 * half + 1) as f64)
        .collect();
    (ac.iter().map(|v| v * v).sum::<f64>() / ac.len() as f64).sqrt() / mean
}

#[test]
fn iphone_hdr_hlg_main10_mov_decodes_to_the_colours_and_pulse_of_its_sdr_original() {
    let dir = temp_dir();
    let sdr = render(dir.path(), "sdr.mov", Codec::H264, (320, 240), 6.0, |o| {
        o.fps = 60.0;
        o.rotation_deg = 90;
        o.trace = fingertip_trace()
            .iter()
            // Torch red kept below SDR's clipping point, so both versions keep every pixel.
            .map(|[r, g, b]| [r * 0.9, g * 1.5, b * 1.5])
            .collect();
    });
    let hdr_path = as_iphone_hlg(&sdr.path, dir.path().join("iphone.mov"));
    let sdr = decode(&sdr.path);
    let hdr = decode(&hdr_path);

    let meta = &hdr.meta;
    assert_eq!(meta.codec, "hevc");
    assert!(meta.container.starts_with("mov"), "{}", meta.container);
    assert_eq!(meta.rotation_deg, 90);
    assert_eq!(meta.color_matrix, "bt2020");
    assert_eq!(meta.color_range, "limited");
    assert!((meta.frame_interval_mean_s - 1.0 / 60.0).abs() < 1e-4);
    assert_eq!(meta.frame_count, sdr.meta.frame_count);

    // 10-bit planes read exactly: the means equal plain per-pixel sums.
    let plain = plain_decode(&hdr_path);
    for (s, p) in hdr.trace.samples.iter().zip(&plain) {
        assert_eq!(p.conversion.transfer, Transfer::Hlg);
        let [y, u, v] = p.roi;
        let want = Transfer::Hlg.sdr_equivalent(p.conversion.rgb_of_yuv(y, u, v));
        assert_rel_close(s.roi_rgb, want, 1e-9, "HLG central");
    }

    // HLG handled: the levels and each channel's pulse are the SDR original's. Coded HLG
    // values would be far off (green ~26 in SDR is ~67 in HLG; red's pulse is ~2.5x smaller).
    let rows = |v: &oxicam_video::DecodedVideo| -> Vec<[f64; 3]> {
        v.trace.samples.iter().map(|s| s.roi_rgb).collect()
    };
    let (a, b) = (rows(&hdr), rows(&sdr));
    for c in 0..3 {
        let (x, y) = (channel(&a, c), channel(&b, c));
        let level = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(
            (level(&x) - level(&y)).abs() < 2.0,
            "channel {c}: {} vs {}",
            level(&x),
            level(&y)
        );
        let (ax, ay) = (ac_over_dc(&x, 60), ac_over_dc(&y, 60));
        assert!(
            (ax / ay - 1.0).abs() < 0.05,
            "channel {c} AC/DC {ax:.5} vs {ay:.5}"
        );
        let r = pearson(&x, &y);
        assert!(r > 0.98, "channel {c}: correlation {r}");
    }
}
