use super::*;
use ff::format::Pixel;

/// A frame FFmpeg allocates (one buffer holding every plane), rows filled with their index.
fn allocated(format: Pixel, width: u32, height: u32) -> ff::frame::Video {
    let mut frame = ff::frame::Video::new(format, width, height);
    for plane in 0..frame.planes() {
        let stride = frame.stride(plane);
        for (y, row) in frame.data_mut(plane).chunks_mut(stride).enumerate() {
            row.fill(y as u8);
        }
    }
    frame
}

fn yuv420p() -> Layout {
    PixelFormat::from_raw(ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as c_int)
        .layout
        .expect("yuv420p is read")
}

#[test]
fn planes_are_borrowed_in_place_up_to_their_last_row() {
    // Odd sizes: chroma is 17x9, rounded up as FFmpeg does.
    let frame = allocated(Pixel::YUV420P, 33, 17);
    let planes = planes(&frame, yuv420p()).unwrap();
    assert_eq!((planes.width, planes.height, planes.bits), (33, 17, 8));
    let stride = |i| frame.stride(i);
    assert_eq!(planes.luma.stride, stride(0));
    assert_eq!(planes.luma.data.len(), 16 * stride(0) + 33);
    assert_eq!(planes.luma.data.as_ptr(), frame.data(0).as_ptr());
    assert_eq!(planes.luma.data[16 * stride(0)], 16);
    let Colour::Yuv { u, v, shift } = planes.colour else {
        panic!("yuv420p has chroma planes");
    };
    assert_eq!(shift, (1, 1));
    for (plane, index) in [(u, 1), (v, 2)] {
        assert_eq!(plane.data.len(), 8 * stride(index) + 17);
        assert_eq!(plane.data.as_ptr(), frame.data(index).as_ptr());
        assert_eq!(plane.data[8 * stride(index)], 8);
    }

    let deep = allocated(Pixel::YUV420P10LE, 32, 18);
    let layout = PixelFormat::from_raw(ffi::AVPixelFormat::AV_PIX_FMT_YUV420P10LE as c_int)
        .layout
        .unwrap();
    let deep_planes = super::planes(&deep, layout).unwrap();
    assert_eq!(deep_planes.bits, 10);
    assert_eq!(deep_planes.luma.data.len(), 17 * deep.stride(0) + 64);
}

/// Every way a frame's fields can disagree with its format or its buffers is refused, named,
/// before a byte of the frame is read.
#[test]
fn frames_that_do_not_fit_their_format_or_buffers_are_refused() {
    type Tamper = fn(*mut ffi::AVFrame);
    let cases: [(&str, Tamper, &str); 9] = [
        (
            "chroma stride short of a row",
            |f| unsafe { (*f).linesize[1] = 8 },
            "plane 1 has a stride of 8",
        ),
        (
            "negative luma stride",
            |f| unsafe { (*f).linesize[0] = -(*f).linesize[0] },
            "plane 0 has a stride of -",
        ),
        (
            "no stride",
            |f| unsafe { (*f).linesize[2] = 0 },
            "plane 2 has a stride of 0",
        ),
        (
            "missing plane",
            |f| unsafe { (*f).data[2] = std::ptr::null_mut() },
            "plane 2 is missing",
        ),
        (
            "wider than its strides",
            |f| unsafe { (*f).width = 4096 },
            "plane 0 has a stride",
        ),
        (
            "taller than its buffer",
            |f| unsafe { (*f).height = 4096 },
            "not inside the frame's buffers",
        ),
        (
            "plane moved past the buffer",
            |f| unsafe {
                let buf = (*f).buf[0];
                (*f).data[0] = (*buf).data.add((*buf).size - 16);
            },
            "plane 0 (32 rows",
        ),
        (
            "no size",
            |f| unsafe { (*f).height = 0 },
            "its size is 32x0",
        ),
        (
            "buffer released",
            |f| unsafe { ffi::av_buffer_unref(&mut (*f).buf[0]) },
            "not inside the frame's buffers",
        ),
    ];
    for (what, tamper, expected) in cases {
        let mut frame = allocated(Pixel::YUV420P, 32, 32);
        assert!(planes(&frame, yuv420p()).is_ok(), "{what}: untampered");
        tamper(unsafe { frame.as_mut_ptr() });
        let err = planes(&frame, yuv420p()).map(|_| ()).expect_err(what);
        assert!(err.contains(expected), "{what}: {err}");
    }
}

#[test]
fn pixel_formats_are_looked_up_from_the_raw_value() {
    use ffi::AVPixelFormat as P;
    let layout = |p: P| PixelFormat::from_raw(p as c_int);
    let yuv = |shift, bits| {
        Some(Layout {
            kind: LayoutKind::Yuv(shift),
            bits,
        })
    };
    assert_eq!(layout(P::AV_PIX_FMT_YUV420P).name, "yuv420p");
    assert_eq!(layout(P::AV_PIX_FMT_YUV420P).layout, yuv((1, 1), 8));
    assert_eq!(layout(P::AV_PIX_FMT_YUVJ422P).layout, yuv((1, 0), 8));
    assert_eq!(layout(P::AV_PIX_FMT_YUV444P12LE).layout, yuv((0, 0), 12));
    assert_eq!(layout(P::AV_PIX_FMT_YUVA420P).layout, yuv((1, 1), 8));
    assert_eq!(layout(P::AV_PIX_FMT_YUV410P).layout, yuv((2, 2), 8));
    assert_eq!(
        layout(P::AV_PIX_FMT_GBRP10LE).layout,
        Some(Layout {
            kind: LayoutKind::Gbr,
            bits: 10
        })
    );
    assert_eq!(
        layout(P::AV_PIX_FMT_GRAY8).layout,
        Some(Layout {
            kind: LayoutKind::Grey,
            bits: 8
        })
    );
    for unread in [
        P::AV_PIX_FMT_NV12,
        P::AV_PIX_FMT_P010LE,
        P::AV_PIX_FMT_RGB24,
        P::AV_PIX_FMT_YUV420P10BE,
        P::AV_PIX_FMT_PAL8,
        P::AV_PIX_FMT_VAAPI,
    ] {
        let format = layout(unread);
        assert_eq!(format.layout, None, "{}", format.name);
        assert_ne!(format.name, "unknown");
    }
    for raw in [-1, P::AV_PIX_FMT_NB as c_int, 9999, c_int::MIN, c_int::MAX] {
        let format = PixelFormat::from_raw(raw);
        assert_eq!((format.name, format.layout), ("unknown", None), "{raw}");
    }
}

#[test]
fn colour_tags_are_read_as_coded_even_outside_ffmpegs_enums() {
    let mut frame = allocated(Pixel::YUV420P, 16, 16);
    let f = unsafe { frame.as_mut_ptr() };
    // SAFETY: writes 4-byte integers into the frame's 4-byte enum fields, as a C decoder can.
    unsafe {
        std::ptr::addr_of_mut!((*f).colorspace)
            .cast::<c_int>()
            .write(99);
        std::ptr::addr_of_mut!((*f).color_range)
            .cast::<c_int>()
            .write(7);
        std::ptr::addr_of_mut!((*f).color_trc)
            .cast::<c_int>()
            .write(33);
    }
    assert_eq!(
        colour_tags(&frame),
        ColourTags {
            space: 99,
            range: 7,
            transfer: 33
        }
    );
    assert_eq!(
        raw_format(&frame),
        ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as c_int
    );
}
