//! Reads a decoded `AVFrame` without trusting it: its pixel format, size, strides and plane
//! pointers are checked against the format's descriptor and the frame's own buffers before any
//! plane is borrowed, and its colour tags are read as the plain integers the file coded.
//!
//! ffmpeg-next's accessors turn those C integers into Rust enums; a file can code any value
//! (a WebM colour element with transfer 33 did), and an out-of-range enum is undefined
//! behaviour: the segfault fuzzing found. Nothing here builds an enum from a frame's field.

use std::ffi::{c_int, CStr};

use ff::ffi;
use ffmpeg_next as ff;

use crate::stats::{Colour, Plane, Planes};

/// How a frame's samples are laid out, from FFmpeg's pixel format descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub kind: LayoutKind,
    /// Bits per sample: 8 in one byte, 9-16 in two little-endian bytes.
    pub bits: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayoutKind {
    Grey,
    /// Chroma subsampling, log2 (x, y).
    Yuv((u32, u32)),
    /// Planar RGB: planes of green, blue, red.
    Gbr,
}

impl Layout {
    fn bytes_per_sample(self) -> usize {
        if self.bits > 8 {
            2
        } else {
            1
        }
    }
}

/// A frame's pixel format as the integer FFmpeg set, its name, and how we read it (`None`:
/// a format we do not read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PixelFormat {
    pub raw: c_int,
    pub name: &'static str,
    pub layout: Option<Layout>,
}

impl PixelFormat {
    /// Looks `raw` up among FFmpeg's descriptors (so no enum is ever built from it).
    pub(crate) fn from_raw(raw: c_int) -> PixelFormat {
        let mut desc: *const ffi::AVPixFmtDescriptor = std::ptr::null();
        loop {
            // SAFETY: av_pix_fmt_desc_next() takes null or one of its own descriptors and
            // returns the next static descriptor or null; get_id() takes such a descriptor.
            desc = unsafe { ffi::av_pix_fmt_desc_next(desc) };
            if desc.is_null() {
                return PixelFormat {
                    raw,
                    name: "unknown",
                    layout: None,
                };
            }
            // SAFETY: as above; the id FFmpeg returns is one of its enum's values.
            if unsafe { ffi::av_pix_fmt_desc_get_id(desc) } as c_int == raw {
                // SAFETY: a non-null descriptor from FFmpeg's static table.
                let desc = unsafe { &*desc };
                // SAFETY: descriptor names are static NUL-terminated ASCII strings.
                let name = unsafe { CStr::from_ptr(desc.name) }.to_str().unwrap_or("?");
                return PixelFormat {
                    raw,
                    name,
                    layout: layout_of(desc),
                };
            }
        }
    }
}

/// Planar layouts the statistics read in place: grey, YUV with any chroma subsampling up to
/// 4x and planar RGB, 8 to 16 bits, native byte order, alpha ignored. That is every software
/// format the H.264, HEVC, VP8 and VP9 decoders produce; packed, semi-planar, paletted,
/// big-endian, float and hardware formats are not.
fn layout_of(desc: &ffi::AVPixFmtDescriptor) -> Option<Layout> {
    let flag = |f: c_int| desc.flags & f as u64 != 0;
    let unreadable = ffi::AV_PIX_FMT_FLAG_BE
        | ffi::AV_PIX_FMT_FLAG_PAL
        | ffi::AV_PIX_FMT_FLAG_BITSTREAM
        | ffi::AV_PIX_FMT_FLAG_HWACCEL
        | ffi::AV_PIX_FMT_FLAG_BAYER
        | ffi::AV_PIX_FMT_FLAG_FLOAT;
    if flag(unreadable) || cfg!(target_endian = "big") {
        return None;
    }
    let colours = match desc.nb_components {
        1 | 2 => 1,
        3 | 4 => 3,
        _ => return None,
    };
    if colours == 3 && !flag(ffi::AV_PIX_FMT_FLAG_PLANAR) {
        return None;
    }
    let comps = &desc.comp[..colours];
    let bits = comps[0].depth;
    let bytes = if bits > 8 { 2 } else { 1 };
    let plain = comps
        .iter()
        .all(|c| c.depth == bits && c.step == bytes && c.offset == 0 && c.shift == 0);
    if !plain || !(8..=16).contains(&bits) {
        return None;
    }
    let kind = if colours == 1 {
        LayoutKind::Grey
    } else if flag(ffi::AV_PIX_FMT_FLAG_RGB) {
        // R, G, B components in planes 2, 0, 1 (FFmpeg's GBR order).
        if [comps[0].plane, comps[1].plane, comps[2].plane] != [2, 0, 1] {
            return None;
        }
        LayoutKind::Gbr
    } else {
        if [comps[0].plane, comps[1].plane, comps[2].plane] != [0, 1, 2] {
            return None;
        }
        let (sx, sy) = (desc.log2_chroma_w as u32, desc.log2_chroma_h as u32);
        if sx > 2 || sy > 2 {
            return None;
        }
        LayoutKind::Yuv((sx, sy))
    };
    Some(Layout {
        kind,
        bits: bits as u32,
    })
}

/// A frame's colour tags as coded: values outside FFmpeg's enums are kept as they are (and
/// read as unspecified by whoever maps them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ColourTags {
    pub space: c_int,
    pub range: c_int,
    pub transfer: c_int,
}

// The colour fields are C enums, stored as 4-byte integers whatever value they hold.
const _: () = {
    use std::mem::size_of;
    assert!(size_of::<ffi::AVColorSpace>() == size_of::<c_int>());
    assert!(size_of::<ffi::AVColorRange>() == size_of::<c_int>());
    assert!(size_of::<ffi::AVColorTransferCharacteristic>() == size_of::<c_int>());
};

/// The `AVFrame` `frame` owns; it lives as long as `frame`.
fn av_frame(frame: &ff::frame::Video) -> *const ffi::AVFrame {
    // SAFETY: only returns the pointer `frame` wraps (unsafe because of what a caller might do
    // with it: every read below is of a plain field of this live frame).
    unsafe { frame.as_ptr() }
}

/// The frame's pixel format, as the integer FFmpeg set.
pub(crate) fn raw_format(frame: &ff::frame::Video) -> c_int {
    // SAFETY: `frame` owns a live AVFrame; `format` is a plain int.
    unsafe { (*av_frame(frame)).format }
}

pub(crate) fn colour_tags(frame: &ff::frame::Video) -> ColourTags {
    let f = av_frame(frame);
    // SAFETY: `f` is the live AVFrame `frame` owns. Each field is read as the c_int it is in
    // memory (sizes checked above) through a raw place, never as the Rust enum its binding
    // declares: the file chooses the value.
    unsafe {
        ColourTags {
            space: std::ptr::addr_of!((*f).colorspace).cast::<c_int>().read(),
            range: std::ptr::addr_of!((*f).color_range).cast::<c_int>().read(),
            transfer: std::ptr::addr_of!((*f).color_trc).cast::<c_int>().read(),
        }
    }
}

/// The frame's planes, borrowed in place, once every one `layout` needs has been checked: a
/// positive size, a non-null pointer, a stride that holds a row, and all its rows inside one
/// of the buffers the frame holds a reference to. `Err` names what does not fit; the frame
/// must then not be read.
pub(crate) fn planes(frame: &ff::frame::Video, layout: Layout) -> Result<Planes<'_>, String> {
    let f = av_frame(frame);
    // SAFETY: plain integer fields of the live AVFrame.
    let (width, height) = unsafe { ((*f).width, (*f).height) };
    if width <= 0 || height <= 0 {
        return Err(format!("its size is {width}x{height}"));
    }
    let (width, height) = (width as usize, height as usize);
    let bytes_per_sample = layout.bytes_per_sample();
    let plane_at = |index: usize, (sx, sy): (u32, u32)| {
        let rows = height.div_ceil(1 << sy);
        let row_bytes = width.div_ceil(1 << sx) * bytes_per_sample;
        plane(frame, index, rows, row_bytes)
    };
    let luma = plane_at(0, (0, 0))?;
    let colour = match layout.kind {
        LayoutKind::Grey => Colour::Grey,
        LayoutKind::Yuv(shift) => Colour::Yuv {
            u: plane_at(1, shift)?,
            v: plane_at(2, shift)?,
            shift,
        },
        LayoutKind::Gbr => Colour::Gbr {
            b: plane_at(1, (0, 0))?,
            r: plane_at(2, (0, 0))?,
        },
    };
    Ok(Planes {
        width,
        height,
        bits: layout.bits,
        luma,
        colour,
    })
}

/// Plane `index` as `rows` rows of `row_bytes` bytes, after checking it lies in the frame's
/// buffers.
fn plane(
    frame: &ff::frame::Video,
    index: usize,
    rows: usize,
    row_bytes: usize,
) -> Result<Plane<'_>, String> {
    let f = av_frame(frame);
    // SAFETY: plain pointer and integer fields of the live AVFrame.
    let (data, linesize, bufs) = unsafe { ((*f).data[index], (*f).linesize[index], (*f).buf) };
    if data.is_null() {
        return Err(format!("plane {index} is missing"));
    }
    let stride = usize::try_from(linesize).unwrap_or(0);
    if stride < row_bytes {
        return Err(format!(
            "plane {index} has a stride of {linesize} bytes for rows of {row_bytes}"
        ));
    }
    let len = (rows - 1)
        .checked_mul(stride)
        .and_then(|n| n.checked_add(row_bytes))
        .ok_or_else(|| format!("plane {index} overflows the address space"))?;
    let start = data as usize;
    let end = start
        .checked_add(len)
        .ok_or_else(|| format!("plane {index} overflows the address space"))?;
    let inside = bufs.iter().filter(|b| !b.is_null()).any(|&b| {
        // SAFETY: a non-null `buf` entry is a live AVBufferRef the frame holds.
        let (buf_data, size) = unsafe { ((*b).data, (*b).size) };
        let buf_start = buf_data as usize;
        !buf_data.is_null()
            && start >= buf_start
            && buf_start
                .checked_add(size)
                .is_some_and(|buf_end| end <= buf_end)
    });
    if !inside {
        return Err(format!(
            "plane {index} ({rows} rows of {stride} bytes) is not inside the frame's buffers"
        ));
    }
    // SAFETY: `data..data + len` lies inside a buffer the frame holds a reference to, so it
    // stays allocated and unwritten while `frame` is borrowed (decoders do not write a frame
    // they have returned); u8 has no alignment or validity requirement.
    let bytes = unsafe { std::slice::from_raw_parts(data, len) };
    Ok(Plane {
        data: bytes,
        stride,
    })
}

#[cfg(test)]
mod tests;
