// Shared device helpers for the BodyPix CUDA frame path.
//
// Every resampling step (pad-to-aspect + resize, align-corners upsample, crop-and-resize,
// blur down/up-sampling) is separable, so the kernels never compute coordinates themselves:
// the host builds one table per axis from runtime/geometry.py and the kernels only read it.
// That keeps the GPU path bit-for-bit on the same geometry as the CPU reference.
#pragma once

#include <cuda_fp16.h>
#include <stdint.h>

// One output position of a separable linear resample: out = (1 - w1) * in[i0] + w1 * in[i1].
// An index of -1 reads as zero (the zero padding of pad-to-aspect). 12 bytes, matching the
// NumPy structured dtype RESAMPLE_TAP_DTYPE in runtime/cuda/tables.py.
struct ResampleTap {
    int i0;
    int i1;
    float w1;
};

enum PixelFormat : int { FORMAT_BGR = 0, FORMAT_YUYV = 1 };

__device__ __forceinline__ float clamp01(float v) { return fminf(fmaxf(v, 0.0f), 1.0f); }

__device__ __forceinline__ float sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }

__device__ __forceinline__ unsigned char to_u8(float v) {
    // Round half to even (rintf in the default rounding mode) and saturate, as cv2's
    // saturate_cast<uchar> (cvRound) does for blendLinear and addWeighted.
    return (unsigned char)fminf(fmaxf(rintf(v), 0.0f), 255.0f);
}

__device__ __forceinline__ float round_half_up_u8(float v) {
    // Saturate, then round half up: runtime/effects/common.py `overlay` (np.clip, + 0.5,
    // astype(uint8)), the mask overlay's rounding.
    return floorf(fminf(fmaxf(v, 0.0f), 255.0f) + 0.5f);
}

// BT.601 limited range, the matrices OpenCV uses for COLOR_YUV2BGR_YUYV / COLOR_BGR2YUV_YUYV
// (the CPU reference of a YUYV camera and of the v4l2loopback output).
__device__ __forceinline__ void yuv_to_bgr(float y, float u, float v, float* bgr) {
    // OpenCV clamps Y - 16 at 0 (footroom below video black), so must we.
    const float c = 1.164f * fmaxf(y - 16.0f, 0.0f);
    const float d = u - 128.0f;
    const float e = v - 128.0f;
    bgr[0] = (float)to_u8(c + 2.018f * d);
    bgr[1] = (float)to_u8(c - 0.813f * e - 0.391f * d);
    bgr[2] = (float)to_u8(c + 1.596f * e);
}

__device__ __forceinline__ float bgr_to_y(const float* bgr) {
    return 16.0f + 0.256788f * bgr[2] + 0.504129f * bgr[1] + 0.097906f * bgr[0];
}

__device__ __forceinline__ float bgr_to_u(const float* bgr) {
    return 128.0f - 0.148223f * bgr[2] - 0.290993f * bgr[1] + 0.439216f * bgr[0];
}

__device__ __forceinline__ float bgr_to_v(const float* bgr) {
    return 128.0f + 0.439216f * bgr[2] - 0.367788f * bgr[1] - 0.071427f * bgr[0];
}

// Bilinear read of channel c of a [rows, width, channels] float map at (ty, tx), in TF's order
// (along x on both rows, then along y); an index of -1 reads 0.
__device__ __forceinline__ float tap_at(const float* __restrict__ src, int width, int channels,
                                        int c, int y, int x) {
    return (y < 0 || x < 0) ? 0.0f : src[((size_t)y * width + x) * channels + c];
}

__device__ __forceinline__ float bilinear(const float* __restrict__ src, int width, int channels,
                                          int c, const ResampleTap& ty, const ResampleTap& tx) {
    const float tl = tap_at(src, width, channels, c, ty.i0, tx.i0);
    const float tr = tap_at(src, width, channels, c, ty.i0, tx.i1);
    const float bl = tap_at(src, width, channels, c, ty.i1, tx.i0);
    const float br = tap_at(src, width, channels, c, ty.i1, tx.i1);
    const float top = tl + (tr - tl) * tx.w1;
    const float bottom = bl + (br - bl) * tx.w1;
    return top + (bottom - top) * ty.w1;
}

// Reads pixel (x, y) of a BGR or YUYV uint8 frame as float BGR 0..255.
// `pitch` is the row stride in bytes (a frame may be a padded V4L2 or pitched buffer).
__device__ __forceinline__ void load_bgr(const unsigned char* __restrict__ frame, int pitch,
                                         int format, int x, int y, float* bgr) {
    const unsigned char* row = frame + (size_t)y * pitch;
    if (format == FORMAT_YUYV) {
        const unsigned char* pair = row + (x >> 1) * 4;  // Y0 U Y1 V
        yuv_to_bgr((float)pair[(x & 1) * 2], (float)pair[1], (float)pair[3], bgr);
    } else {
        const unsigned char* px = row + x * 3;
        bgr[0] = (float)px[0];
        bgr[1] = (float)px[1];
        bgr[2] = (float)px[2];
    }
}

// Writes two horizontally adjacent pixels (x even) as BGR or as one YUYV macro-pixel, so the
// compositing kernels emit the output format directly instead of converting in another pass.
// `has_second` is false only for the last pixel of an odd-width BGR frame.
__device__ __forceinline__ void store_pair(unsigned char* __restrict__ out, int pitch, int format,
                                           int x, int y, const float* a, const float* b,
                                           bool has_second) {
    unsigned char* row = out + (size_t)y * pitch;
    if (format == FORMAT_YUYV) {
        float ab[3];
        unsigned char qa[3], qb[3];
        // Chroma of the pair averages the two pixels after rounding them to uint8, as the
        // CPU path (uint8 BGR frame, then cv2.cvtColor BGR2YUV_YUYV) does.
        for (int c = 0; c < 3; ++c) {
            qa[c] = to_u8(a[c]);
            qb[c] = to_u8(b[c]);
            ab[c] = 0.5f * ((float)qa[c] + (float)qb[c]);
        }
        float fa[3] = {(float)qa[0], (float)qa[1], (float)qa[2]};
        float fb[3] = {(float)qb[0], (float)qb[1], (float)qb[2]};
        uchar4 packed = make_uchar4(to_u8(bgr_to_y(fa)), to_u8(bgr_to_u(ab)),
                                    to_u8(bgr_to_y(fb)), to_u8(bgr_to_v(ab)));
        *reinterpret_cast<uchar4*>(row + (x >> 1) * 4) = packed;
    } else {
        unsigned char* px = row + x * 3;
        px[0] = to_u8(a[0]);
        px[1] = to_u8(a[1]);
        px[2] = to_u8(a[2]);
        if (has_second) {
            px[3] = to_u8(b[0]);
            px[4] = to_u8(b[1]);
            px[5] = to_u8(b[2]);
        }
    }
}
