// Composite: one pass from the camera frame (+ mask, + background) to the output frame, in BGR
// or directly in YUYV (what v4l2loopback consumers expect), optionally mirrored.
//
// Per output pixel (source pixel sx = flip ? w - 1 - x : x):
//   base = blend ? a * frame + (1 - a) * background : frame      (effects/common.py `blend`)
//          a = alpha[sx]: the person alpha with its edge blurred (blur, replace), or the
//          "keep" alpha of everything but the face (face blur);
//          background = the reduced-resolution blurred frame enlarged through 2-tap tables
//          (blur, face blur), or a frame-sized BGR image resident on the GPU (replace);
//   mirroring (flip) applies to the finished picture, as cv2.flip after the effect;
//   overlay MASK:  m = overlay_alpha[sx]; toMask's RGBA image is linear in m, so its
//          premultiplied colour P and coverage A are too, and drawMask with opacity gives
//          out = base * (1 - opacity * A) + opacity * P  (also when the mask was blurred),
//          computed in effects/mask_overlay.py's order (P = base + delta * m from the
//          host's float32 numbers) and rounded half up like effects/common.py `overlay`;
//   overlay PARTS: the layer toColoredPartMask paints, palette row id + 1 (row 0: pixels with no
//          part, body-pix's opaque white by default), drawn with drawMask's opacity in the
//          arithmetic runtime/effects/parts.py `draw_colored_parts` uses for that no-part
//          colour (PartsRule): opaque no-part colour, every pixel cv2.addWeighted(base,
//          1 - opacity, layer, opacity) (a fused multiply-add, rounded half to even, as
//          OpenCV's SIMD loop); transparent, the same where there is a part only; any other
//          alpha, effects/common.py `overlay` (premultiplied, rounded half up).
#include "common.cuh"

#define COMPOSITE_PARAMS_BYTES 184

enum BackgroundKind : int { BACKGROUND_BLURRED = 0, BACKGROUND_IMAGE = 1 };
enum OverlayKind : int { OVERLAY_NONE = 0, OVERLAY_MASK = 1, OVERLAY_PARTS = 2 };
enum PartsRule : int { PARTS_WEIGHTED_ALL = 0, PARTS_WEIGHTED_PARTS = 1, PARTS_OVERLAY = 2 };

struct CompositeParams {
    const unsigned char* frame;  // uint8 BGR or YUYV
    int frame_pitch;
    int frame_format;
    int width;
    int height;
    int flip;

    int blend;           // 0: base = frame
    const float* alpha;  // [h, w] weight of the frame against the background
    int background_kind;
    const float* blurred;  // [small_h, small_w, 3] float BGR
    int blurred_w;
    const ResampleTap* up_rows;  // frame rows -> blurred rows
    const ResampleTap* up_cols;  // frame columns -> blurred columns
    const unsigned char* image;  // [h, image_pitch] uint8 BGR
    int image_pitch;

    int overlay;
    const float* overlay_alpha;      // [h, w], OVERLAY_MASK
    float mask_base[4];              // premultiplied B, G, R and A (0..1) of the background
    float mask_delta[4];             // foreground minus background, per component
    const signed char* ids;          // [h, w], OVERLAY_PARTS
    const float* palette;            // [num_parts + 1, 4] premultiplied B, G, R and alpha
    int num_parts;
    float opacity;
    int parts_rule;    // PartsRule
    float parts_keep;  // float(1 - opacity) as the host computes it (cv2.addWeighted's alpha)

    unsigned char* out;
    int out_pitch;
    int out_format;
};
// Passed by value; runtime/cuda/kernels.py packs it with a NumPy dtype of the same layout.
static_assert(sizeof(CompositeParams) == COMPOSITE_PARAMS_BYTES, "CompositeParams layout");

__device__ __forceinline__ void shade(const CompositeParams& p, int x, int y, float* px) {
    const int sx = p.flip ? p.width - 1 - x : x;
    const size_t i = (size_t)y * p.width + sx;
    load_bgr(p.frame, p.frame_pitch, p.frame_format, sx, y, px);

    if (p.blend) {
        const float a = p.alpha[i];
        float bg[3];
        if (p.background_kind == BACKGROUND_IMAGE) {
            const unsigned char* src = p.image + (size_t)y * p.image_pitch + sx * 3;
            bg[0] = src[0];
            bg[1] = src[1];
            bg[2] = src[2];
        } else {
            const ResampleTap ty = p.up_rows[y];
            const ResampleTap tx = p.up_cols[sx];
            // The CPU's blurred background is a uint8 image.
            for (int c = 0; c < 3; ++c)
                bg[c] = (float)to_u8(bilinear(p.blurred, p.blurred_w, 3, c, ty, tx));
        }
        // cv2.blendLinear exactly: (src1 * w1 + src2 * w2) / (w1 + w2 + 1e-5), w2 = 1 - a,
        // rounded to uint8 (before any overlay) as the CPU blend yields.
        const float inverse = 1.0f - a;
        const float denominator = (a + inverse) + 1e-5f;
        for (int c = 0; c < 3; ++c)
            px[c] = (float)to_u8((px[c] * a + bg[c] * inverse) / denominator);
    }

    if (p.overlay == OVERLAY_MASK) {
        const float m = p.overlay_alpha[i];
        const float* base = p.mask_base;
        const float* delta = p.mask_delta;
        const float keep = 1.0f - p.opacity * (base[3] + delta[3] * m);
        for (int c = 0; c < 3; ++c) {
            const float colour = base[c] + delta[c] * m;
            px[c] = round_half_up_u8(px[c] * keep + p.opacity * colour);
        }
    } else if (p.overlay == OVERLAY_PARTS) {
        const int id = p.ids[i];
        const int row = (id >= 0 && id < p.num_parts) ? id + 1 : 0;
        const float* colour = p.palette + row * 4;
        if (p.parts_rule == PARTS_OVERLAY) {
            const float keep = 1.0f - p.opacity * colour[3];
            for (int c = 0; c < 3; ++c)
                px[c] = round_half_up_u8(px[c] * keep + p.opacity * colour[c]);
        } else if (row > 0 || p.parts_rule == PARTS_WEIGHTED_ALL) {
            for (int c = 0; c < 3; ++c)
                px[c] = (float)to_u8(fmaf(px[c], p.parts_keep, fmaf(colour[c], p.opacity, 0.0f)));
        }
    }
}

// One thread per horizontal pixel pair (x even): a YUYV macro-pixel needs both.
extern "C" __global__ void composite(const CompositeParams p) {
    const int x = (blockIdx.x * blockDim.x + threadIdx.x) * 2;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= p.width || y >= p.height) return;
    const bool has_second = x + 1 < p.width;
    float a[3], b[3];
    shade(p, x, y, a);
    if (has_second) {
        shade(p, x + 1, y, b);
    } else {
        b[0] = a[0];
        b[1] = a[1];
        b[2] = a[2];
    }
    store_pair(p.out, p.out_pitch, p.out_format, x, y, a, b, has_second);
}
