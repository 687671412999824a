// Mask: segment logits at stride resolution -> per-pixel alpha at frame resolution.
//
// Exactly BodyPix's scaleAndCropToInputTensorShape, in two steps so each output value is
// computed the way TF computes it (interpolating sigmoids is not the sigmoid of an
// interpolation, so the steps cannot be fused into one resample):
//   1. upsample_sigmoid: logits [h, w, C] -> sigmoid(align-corners resize) [H, W, C]
//      at model-input resolution (small);
//   2. mask_threshold / motion_smooth / part_ids: crop-and-resize that removes the padding
//      [H, W] -> frame [frame_h, frame_w], then the threshold (plain, or motion-aware with
//      hysteresis: the motion state stays on the GPU), or the argmax of the 24 part maps where
//      the person is.
// Both resamples are per-axis tables from runtime/geometry.py. Then smooth_mask (the EMA) and
// part_keep (face blur's mask with body-pix's contour rim).
#include "common.cuh"

__device__ __forceinline__ float logit_at(const void* __restrict__ src, int fp16, int width,
                                         int channels, int c, int y, int x) {
    if (y < 0 || x < 0) return 0.0f;
    const size_t i = ((size_t)y * width + x) * channels + c;
    return fp16 ? __half2float(static_cast<const __half*>(src)[i])
                : static_cast<const float*>(src)[i];
}

extern "C" __global__ void upsample_sigmoid(const void* __restrict__ logits, int logits_fp16,
                                            int in_w, int channels,
                                            const ResampleTap* __restrict__ rows,
                                            const ResampleTap* __restrict__ cols, int out_h,
                                            int out_w, float* __restrict__ out) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= out_w || y >= out_h) return;
    const ResampleTap ty = rows[y];
    const ResampleTap tx = cols[x];
    for (int c = 0; c < channels; ++c) {
        const float tl = logit_at(logits, logits_fp16, in_w, channels, c, ty.i0, tx.i0);
        const float tr = logit_at(logits, logits_fp16, in_w, channels, c, ty.i0, tx.i1);
        const float bl = logit_at(logits, logits_fp16, in_w, channels, c, ty.i1, tx.i0);
        const float br = logit_at(logits, logits_fp16, in_w, channels, c, ty.i1, tx.i1);
        // TF's resize_bilinear order: lerp along x on both rows, then along y.
        const float top = tl + (tr - tl) * tx.w1;
        const float bottom = bl + (br - bl) * tx.w1;
        out[((size_t)y * out_w + x) * channels + c] = sigmoidf(top + (bottom - top) * ty.w1);
    }
}

// BodyPix's toMaskTensor at frame size: 1 where the cropped score > threshold, else 0.
extern "C" __global__ void mask_threshold(const float* __restrict__ prob, int prob_w,
                                          const ResampleTap* __restrict__ rows,
                                          const ResampleTap* __restrict__ cols, int frame_h,
                                          int frame_w, float threshold,
                                          float* __restrict__ mask) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= frame_w || y >= frame_h) return;
    const float p = bilinear(prob, prob_w, 1, 0, rows[y], cols[x]);
    mask[(size_t)y * frame_w + x] = p > threshold ? 1.0f : 0.0f;
}

// runtime/mask.py's MaskRefiner.smooth: state = smoothing * state + (1 - smoothing) * mask
// when has_previous, else state = mask. `state` stays on the GPU between frames.
extern "C" __global__ void smooth_mask(const float* __restrict__ mask, int n, float smoothing,
                                       int has_previous, float* __restrict__ state) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    state[i] = has_previous ? smoothing * state[i] + (1.0f - smoothing) * mask[i] : mask[i];
}

__device__ __forceinline__ bool selected_part(const signed char* __restrict__ ids, int width,
                                              unsigned int part_bits, int x, int y) {
    const int id = ids[(size_t)y * width + x];
    return id >= 0 && id < 32 && ((part_bits >> id) & 1u);
}

// toMask(drawContour=true)'s boundary pixel (runtime/effects/parts.py `contour_rim`): selected,
// off the picture's border, with one of its four diagonal neighbours not selected.
__device__ __forceinline__ bool contour_boundary(const signed char* __restrict__ ids, int width,
                                                 int height, unsigned int part_bits, int x,
                                                 int y) {
    if (x < 1 || y < 1 || x > width - 2 || y > height - 2) return false;
    if (!selected_part(ids, width, part_bits, x, y)) return false;
    return !selected_part(ids, width, part_bits, x - 1, y - 1) ||
           !selected_part(ids, width, part_bits, x + 1, y - 1) ||
           !selected_part(ids, width, part_bits, x - 1, y + 1) ||
           !selected_part(ids, width, part_bits, x + 1, y + 1);
}

// blurBodyPart's mask of what stays sharp (runtime/effects/parts.py `body_part_keep`): 0 on the
// listed parts (bit id of `part_bits`), 1 elsewhere and on the contour rim body-pix's
// toMask(drawContour=true) leaves: the pixels whose lower-left or lower-right neighbour is a
// boundary pixel. As float for the edge blur that follows.
extern "C" __global__ void part_keep(const signed char* __restrict__ ids, int width, int height,
                                     unsigned int part_bits, float* __restrict__ keep) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= width || y >= height) return;
    const bool rim = y + 1 < height &&
                     (contour_boundary(ids, width, height, part_bits, x - 1, y + 1) ||
                      contour_boundary(ids, width, height, part_bits, x + 1, y + 1));
    keep[(size_t)y * width + x] =
        (!selected_part(ids, width, part_bits, x, y) || rim) ? 1.0f : 0.0f;
}

// segmentPersonParts: argmax over the part maps (first maximum wins, as tf.argMax), -1 where
// the person probability is not above the threshold. `part_prob` is [H, W, num_parts].
extern "C" __global__ void part_ids(const float* __restrict__ prob,
                                    const float* __restrict__ part_prob, int prob_w,
                                    int num_parts, const ResampleTap* __restrict__ rows,
                                    const ResampleTap* __restrict__ cols, int frame_h,
                                    int frame_w, float threshold, signed char* __restrict__ ids) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= frame_w || y >= frame_h) return;
    const ResampleTap ty = rows[y];
    const ResampleTap tx = cols[x];
    const size_t i = (size_t)y * frame_w + x;
    if (!(bilinear(prob, prob_w, 1, 0, ty, tx) > threshold)) {
        ids[i] = -1;
        return;
    }
    int best = 0;
    float best_value = bilinear(part_prob, prob_w, num_parts, 0, ty, tx);
    for (int c = 1; c < num_parts; ++c) {
        const float v = bilinear(part_prob, prob_w, num_parts, c, ty, tx);
        if (v > best_value) {
            best_value = v;
            best = c;
        }
    }
    ids[i] = (signed char)best;
}

// --- Motion-aware smoothing with hysteresis: runtime/mask.py MaskRefiner.smooth_motion -------
//
// Stillness is measured at 1/_MOTION_SCALE size in four launches, each reproducing its OpenCV
// call exactly (the tables and constants come from the host, runtime/cuda/mask.py):
//   motion_gray_shrink  cv2.cvtColor(BGR2GRAY) then cv2.resize(INTER_AREA) of the frame
//   motion_difference   cv2.blur(cv2.absdiff(small, previous), (3, 3))
//   motion_stillness    cv2.dilate (square window) then the still/moving ramp, clipped
//   motion_smooth       at frame size: keep/margin enlarged (cv2.resize INTER_LINEAR), the
//                       time average of the probability and the hysteresis threshold

// cv2.COLOR_BGR2GRAY for uint8: 15-bit fixed-point BT.601 weights, rounded.
__device__ __forceinline__ int gray_u8(const float* bgr) {
    return ((int)bgr[0] * 3735 + (int)bgr[1] * 19235 + (int)bgr[2] * 9798 + (1 << 14)) >> 15;
}

// cv2.BORDER_REFLECT_101 (cv2.blur's default): -1 -> 1, n -> n - 2.
__device__ __forceinline__ int reflect101(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
    return i;
}

// One thread per small pixel. The area weights are per axis (start + taps, zero-padded, as
// blur.cu's filters); OpenCV sums along the row first, then over the rows, in float, and
// rounds to uint8.
extern "C" __global__ void motion_gray_shrink(
    const unsigned char* __restrict__ frame, int frame_pitch, int frame_format,
    const int* __restrict__ row_start, const float* __restrict__ row_weights, int row_taps,
    const int* __restrict__ col_start, const float* __restrict__ col_weights, int col_taps,
    int small_w, int small_h, float* __restrict__ small) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= small_w || y >= small_h) return;
    float sum = 0.0f;
    for (int ky = 0; ky < row_taps; ++ky) {
        const int sy = row_start[y] + ky;
        float row = 0.0f;
        for (int kx = 0; kx < col_taps; ++kx) {
            float bgr[3];
            load_bgr(frame, frame_pitch, frame_format, col_start[x] + kx, sy, bgr);
            row += (float)gray_u8(bgr) * col_weights[(size_t)x * col_taps + kx];
        }
        sum += row_weights[(size_t)y * row_taps + ky] * row;
    }
    small[(size_t)y * small_w + x] = (float)to_u8(sum);
}

// One thread per small pixel: the 3x3 mean of |small - previous|. The values are whole
// levels, so the sum is exact whatever the order, and OpenCV divides it once.
extern "C" __global__ void motion_difference(const float* __restrict__ small,
                                             const float* __restrict__ previous, int w, int h,
                                             float* __restrict__ diff) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    float sum = 0.0f;
    for (int dy = -1; dy <= 1; ++dy) {
        const size_t row = (size_t)reflect101(y + dy, h) * w;
        for (int dx = -1; dx <= 1; ++dx) {
            const size_t k = row + reflect101(x + dx, w);
            sum += fabsf(small[k] - previous[k]);
        }
    }
    diff[(size_t)y * w + x] = sum / 9.0f;
}

// One thread per small pixel: the largest difference within `reach` (cv2.dilate with a
// (2 reach + 1)^2 square; outside the picture does not count), then
// still = clamp01((moving - diff) * gain): 1 still, 0 moving.
extern "C" __global__ void motion_stillness(const float* __restrict__ diff, int w, int h,
                                            int reach, float moving, float gain,
                                            float* __restrict__ still) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    float most = diff[(size_t)y * w + x];
    const int y0 = y > reach ? y - reach : 0, y1 = y + reach < h ? y + reach : h - 1;
    const int x0 = x > reach ? x - reach : 0, x1 = x + reach < w ? x + reach : w - 1;
    for (int yy = y0; yy <= y1; ++yy)
        for (int xx = x0; xx <= x1; ++xx)
            most = fmaxf(most, diff[(size_t)yy * w + xx]);
    still[(size_t)y * w + x] = clamp01((moving - most) * gain);
}

// cv2.resize INTER_LINEAR of float images, as OpenCV computes it: a fused lerp along x on both
// rows, then along y, of the small values times `scale` (the host's tables: i0, i1, w1).
__device__ __forceinline__ float enlarged_scaled(const float* __restrict__ v, int w,
                                                 const ResampleTap& ty, const ResampleTap& tx,
                                                 float scale) {
    const float tl = v[(size_t)ty.i0 * w + tx.i0] * scale;
    const float tr = v[(size_t)ty.i0 * w + tx.i1] * scale;
    const float bl = v[(size_t)ty.i1 * w + tx.i0] * scale;
    const float br = v[(size_t)ty.i1 * w + tx.i1] * scale;
    const float top = fmaf(tr - tl, tx.w1, tl);
    const float bottom = fmaf(br - bl, tx.w1, bl);
    return fmaf(bottom - top, ty.w1, top);
}

// One thread per frame pixel: the person probability p (as mask_threshold computes it),
//   keep = enlarged(still * strength), margin = enlarged(still * hysteresis)
//   average = (average - p) * keep + p
//   person = average > threshold + side * margin   (side: -1 person last frame, +1 not)
// and the binary mask. Without a previous frame: average = p, person = p > threshold.
extern "C" __global__ void motion_smooth(
    const float* __restrict__ prob, int prob_w, const ResampleTap* __restrict__ rows,
    const ResampleTap* __restrict__ cols, int frame_h, int frame_w, float threshold,
    const float* __restrict__ still, int small_w, const ResampleTap* __restrict__ up_rows,
    const ResampleTap* __restrict__ up_cols, float strength, float hysteresis, int has_previous,
    float* __restrict__ average, float* __restrict__ side, float* __restrict__ mask) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= frame_w || y >= frame_h) return;
    const size_t i = (size_t)y * frame_w + x;
    const float p = bilinear(prob, prob_w, 1, 0, rows[y], cols[x]);
    float averaged = p;
    float limit = threshold;
    if (has_previous) {
        const ResampleTap ty = up_rows[y];
        const ResampleTap tx = up_cols[x];
        const float keep = enlarged_scaled(still, small_w, ty, tx, strength);
        const float margin = enlarged_scaled(still, small_w, ty, tx, hysteresis);
        averaged = (average[i] - p) * keep + p;
        limit = side[i] * margin + threshold;
    }
    const bool person = averaged > limit;
    average[i] = averaged;
    side[i] = person ? -1.0f : 1.0f;
    mask[i] = person ? 1.0f : 0.0f;
}
