// Edge refinement: the fast guided filter, twin of runtime/edge_refine.py (guided_filter).
//
//   shrink:       guide I = gray(frame) and mask p as means of s x s blocks (the last blocks
//                 completed by repeating the border), at ceil(w/s) x ceil(h/s)
//   coefficients: per small pixel, box means over (2r+1)^2 (border mirrored, fedcba|abcdef)
//                 a = cov(I, p) / (var(I) + eps), b = mean(p) - a mean(I)
//   mean:         box means of a and b
//   apply:        at every frame pixel, mean a and mean b enlarged bilinearly (block centres to
//                 pixel centres, clamped at the border as cv2.resize does),
//                 out = clamp01((a I + b - low) * gain) (the CPU module's STRETCH_LOW/HIGH)
//
// No shared memory and no barriers: every thread computes its own window, each step is its own
// launch, so the host executor runs the same source exactly. The gray weights come from the
// CPU module (GRAY_WEIGHTS) as arguments.
#include "common.cuh"

__device__ __forceinline__ int min_int(int a, int b) { return a < b ? a : b; }

// cv2.BORDER_REFLECT: -1 -> 0, -2 -> 1, n -> n-1 (repeated for windows wider than the image).
__device__ __forceinline__ int reflect_index(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
    return i;
}

__device__ __forceinline__ float gray_at(const unsigned char* __restrict__ frame, int pitch,
                                         int format, int x, int y, float wb, float wg, float wr) {
    float bgr[3];
    load_bgr(frame, pitch, format, x, y, bgr);
    return bgr[0] * wb + bgr[1] * wg + bgr[2] * wr;
}

// One thread per small pixel: block means of the guide and the mask [h, w].
extern "C" __global__ void guided_shrink(const unsigned char* __restrict__ frame, int frame_pitch,
                                         int frame_format, const float* __restrict__ mask,
                                         int width, int height, int s, int small_w, int small_h,
                                         float wb, float wg, float wr,
                                         float* __restrict__ small_guide,
                                         float* __restrict__ small_mask) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= small_w || y >= small_h) return;
    float sum_i = 0.0f, sum_p = 0.0f;
    for (int j = 0; j < s; ++j) {
        const int fy = min_int(y * s + j, height - 1);
        for (int i = 0; i < s; ++i) {
            const int fx = min_int(x * s + i, width - 1);
            sum_i += gray_at(frame, frame_pitch, frame_format, fx, fy, wb, wg, wr);
            sum_p += mask[(size_t)fy * width + fx];
        }
    }
    const float inv = 1.0f / (float)(s * s);
    small_guide[(size_t)y * small_w + x] = sum_i * inv;
    small_mask[(size_t)y * small_w + x] = sum_p * inv;
}

// One thread per small pixel: the linear model (a, b) of its window.
extern "C" __global__ void guided_coefficients(const float* __restrict__ guide,
                                               const float* __restrict__ mask, int w, int h,
                                               int radius, float eps, float* __restrict__ a,
                                               float* __restrict__ b) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    float si = 0.0f, sp = 0.0f, sii = 0.0f, sip = 0.0f;
    for (int dy = -radius; dy <= radius; ++dy) {
        const size_t row = (size_t)reflect_index(y + dy, h) * w;
        for (int dx = -radius; dx <= radius; ++dx) {
            const size_t k = row + reflect_index(x + dx, w);
            const float i = guide[k], p = mask[k];
            si += i;
            sp += p;
            sii += i * i;
            sip += i * p;
        }
    }
    const float n = (float)((2 * radius + 1) * (2 * radius + 1));
    const float mean_i = si / n, mean_p = sp / n;
    const float cov = sip / n - mean_i * mean_p;
    const float var = sii / n - mean_i * mean_i;
    const float ak = cov / (var + eps);
    a[(size_t)y * w + x] = ak;
    b[(size_t)y * w + x] = mean_p - ak * mean_i;
}

// One thread per small pixel: box means of a and b.
extern "C" __global__ void guided_mean(const float* __restrict__ a, const float* __restrict__ b,
                                       int w, int h, int radius, float* __restrict__ mean_a,
                                       float* __restrict__ mean_b) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    float sa = 0.0f, sb = 0.0f;
    for (int dy = -radius; dy <= radius; ++dy) {
        const size_t row = (size_t)reflect_index(y + dy, h) * w;
        for (int dx = -radius; dx <= radius; ++dx) {
            const size_t k = row + reflect_index(x + dx, w);
            sa += a[k];
            sb += b[k];
        }
    }
    const float n = (float)((2 * radius + 1) * (2 * radius + 1));
    mean_a[(size_t)y * w + x] = sa / n;
    mean_b[(size_t)y * w + x] = sb / n;
}

// cv2.resize INTER_LINEAR along one axis for an integer enlargement s: source index and weight.
__device__ __forceinline__ void enlarge_tap(int i, int s, int n, int* i0, int* i1, float* f) {
    float pos = ((float)i + 0.5f) / (float)s - 0.5f;
    int lo = (int)floorf(pos);
    float frac = pos - (float)lo;
    if (lo < 0) {
        lo = 0;
        frac = 0.0f;
    }
    if (lo >= n - 1) {
        lo = n - 1;
        frac = 0.0f;
    }
    *i0 = lo;
    *i1 = min_int(lo + 1, n - 1);
    *f = frac;
}

__device__ __forceinline__ float enlarged(const float* __restrict__ v, int w, int y0, int y1,
                                          float fy, int x0, int x1, float fx) {
    const float top = v[(size_t)y0 * w + x0] * (1.0f - fx) + v[(size_t)y0 * w + x1] * fx;
    const float bottom = v[(size_t)y1 * w + x0] * (1.0f - fx) + v[(size_t)y1 * w + x1] * fx;
    return top * (1.0f - fy) + bottom * fy;
}

// One thread per frame pixel: out = clamp01((mean_a I + mean_b - low) * gain). `out` may be
// the input mask.
extern "C" __global__ void guided_apply(const unsigned char* __restrict__ frame, int frame_pitch,
                                        int frame_format, int width, int height,
                                        const float* __restrict__ mean_a,
                                        const float* __restrict__ mean_b, int s, int small_w,
                                        int small_h, float wb, float wg, float wr, float low,
                                        float gain, float* __restrict__ out) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= width || y >= height) return;
    int x0, x1, y0, y1;
    float fx, fy;
    enlarge_tap(x, s, small_w, &x0, &x1, &fx);
    enlarge_tap(y, s, small_h, &y0, &y1, &fy);
    const float ma = enlarged(mean_a, small_w, y0, y1, fy, x0, x1, fx);
    const float mb = enlarged(mean_b, small_w, y0, y1, fy, x0, x1, fx);
    const float i = gray_at(frame, frame_pitch, frame_format, x, y, wb, wg, wr);
    out[(size_t)y * width + x] = clamp01((ma * i + mb - low) * gain);
}
