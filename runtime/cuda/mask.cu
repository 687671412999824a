// Mask: segment logits at stride resolution -> per-pixel alpha at frame resolution.
//
// Exactly BodyPix's scaleAndCropToInputTensorShape, in two steps so each output value is
// computed the way TF computes it (interpolating sigmoids is not the sigmoid of an
// interpolation, so the steps cannot be fused into one resample):
//   1. upsample_sigmoid: logits [h, w, C] -> sigmoid(align-corners resize) [H, W, C]
//      at model-input resolution (small);
//   2. mask_alpha / part_ids: crop-and-resize that removes the padding [H, W] -> frame
//      [frame_h, frame_w], then threshold or soft alpha and temporal smoothing (the previous
//      alpha stays on the GPU), or the argmax of the 24 part maps where the person is.
// Both resamples are per-axis tables from runtime/geometry.py.
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

// blurBodyPart's mask of what stays sharp: 0 on the listed parts (bit id of `part_bits`),
// 1 elsewhere, as float for the edge blur that follows.
extern "C" __global__ void part_keep(const signed char* __restrict__ ids, int n,
                                     unsigned int part_bits, float* __restrict__ keep) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const int id = ids[i];
    keep[i] = (id >= 0 && id < 32 && ((part_bits >> id) & 1u)) ? 0.0f : 1.0f;
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
