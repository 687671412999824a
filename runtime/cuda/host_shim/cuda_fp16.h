// Host stand-in for the part of CUDA's cuda_fp16.h the kernels use (IEEE binary16 <-> float,
// round to nearest even as __float2half_rn), so the host build needs no CUDA headers.
#pragma once

struct __half {
    _Float16 value;
};

inline float __half2float(__half h) { return (float)h.value; }
inline __half __float2half_rn(float f) { return __half{(_Float16)f}; }
