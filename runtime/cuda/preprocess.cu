// Pre-process: camera frame (BGR or YUYV uint8) -> model input, written straight into the
// engine's input buffer (NHWC RGB, FP32 or FP16). Pad-to-aspect and the TF bilinear resize
// (alignCorners=false) come in as per-axis tables built from runtime/geometry.py; a tap index
// of -1 is the zero padding.
#include "common.cuh"

__device__ __forceinline__ void pixel_or_zero(const unsigned char* __restrict__ frame, int pitch,
                                              int format, int y, int x, float* bgr) {
    if (y < 0 || x < 0) {
        bgr[0] = bgr[1] = bgr[2] = 0.0f;
    } else {
        load_bgr(frame, pitch, format, x, y, bgr);
    }
}

__device__ __forceinline__ void lerp_row(const unsigned char* __restrict__ frame, int pitch,
                                         int format, int y, const ResampleTap& tx, float* out) {
    float a[3], b[3];
    pixel_or_zero(frame, pitch, format, y, tx.i0, a);
    pixel_or_zero(frame, pitch, format, y, tx.i1, b);
    for (int c = 0; c < 3; ++c) out[c] = a[c] + (b[c] - a[c]) * tx.w1;
}

extern "C" __global__ void preprocess(const unsigned char* __restrict__ frame, int frame_pitch,
                                      int format, const ResampleTap* __restrict__ rows,
                                      const ResampleTap* __restrict__ cols, int out_h, int out_w,
                                      void* __restrict__ out, int out_fp16, float scale,
                                      float offset) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= out_w || y >= out_h) return;

    const ResampleTap ty = rows[y];
    const ResampleTap tx = cols[x];
    // TF's legacy resize order: lerp along x on both rows, then along y; padding reads 0.
    float top[3], bottom[3];
    lerp_row(frame, frame_pitch, format, ty.i0, tx, top);
    lerp_row(frame, frame_pitch, format, ty.i1, tx, bottom);
    float acc[3];
    for (int c = 0; c < 3; ++c) acc[c] = top[c] + (bottom[c] - top[c]) * ty.w1;

    const size_t base = ((size_t)y * out_w + x) * 3;
    // BGR frame -> RGB model input.
    const float rgb[3] = {acc[2] * scale + offset, acc[1] * scale + offset,
                          acc[0] * scale + offset};
    if (out_fp16) {
        __half* dst = static_cast<__half*>(out) + base;
        for (int c = 0; c < 3; ++c) dst[c] = __float2half_rn(rgb[c]);
    } else {
        float* dst = static_cast<float*>(out) + base;
        for (int c = 0; c < 3; ++c) dst[c] = rgb[c];
    }
}
