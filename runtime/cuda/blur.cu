// Separable linear filters: the reduced-resolution background blur (css_blur: shrink, blur,
// enlarge), the mask's edge blur and feathering. Every pass is one axis of a linear operator
// given as per-output weights, out[i] = sum_k weights[i * taps + k] * in[start[i] + k], with
// borders, kernel sizes and area weights already folded in by the host
// (runtime/cuda/operators.py measures them off the CPU reference's own OpenCV calls).
#include "common.cuh"

// One axis of a filter over a float image [in_h, in_w, channels] (channels <= 4).
// axis 1 filters along rows (output [in_h, out_len]); axis 0 along columns ([out_len, in_w]).
extern "C" __global__ void filter_axis(const float* __restrict__ in, int in_h, int in_w,
                                       int channels, const int* __restrict__ start,
                                       const float* __restrict__ weights, int taps, int out_len,
                                       int axis, float* __restrict__ out) {
    const int out_w = axis == 1 ? out_len : in_w;
    const int out_h = axis == 1 ? in_h : out_len;
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= out_w || y >= out_h) return;
    const int i = axis == 1 ? x : y;
    const float* w = weights + (size_t)i * taps;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int k = 0; k < taps; ++k) {
        const int s = start[i] + k;
        const float* px = axis == 1 ? in + ((size_t)y * in_w + s) * channels
                                    : in + ((size_t)s * in_w + x) * channels;
        for (int c = 0; c < channels; ++c) acc[c] += w[k] * px[c];
    }
    float* dst = out + ((size_t)y * out_w + x) * channels;
    for (int c = 0; c < channels; ++c) dst[c] = acc[c];
}

// The first pass over the camera frame itself: along rows, reading uint8 BGR or YUYV, writing
// float BGR [frame_h, out_len, 3] (so the frame is never converted in a pass of its own).
extern "C" __global__ void filter_frame_rows(const unsigned char* __restrict__ frame,
                                             int frame_pitch, int format, int frame_h,
                                             const int* __restrict__ start,
                                             const float* __restrict__ weights, int taps,
                                             int out_len, float* __restrict__ out) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= out_len || y >= frame_h) return;
    const float* w = weights + (size_t)x * taps;
    float acc[3] = {0.0f, 0.0f, 0.0f};
    for (int k = 0; k < taps; ++k) {
        float bgr[3];
        load_bgr(frame, frame_pitch, format, start[x] + k, y, bgr);
        for (int c = 0; c < 3; ++c) acc[c] += w[k] * bgr[c];
    }
    float* dst = out + ((size_t)y * out_len + x) * 3;
    for (int c = 0; c < 3; ++c) dst[c] = acc[c];
}
