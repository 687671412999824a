// The CUDA built-ins the kernels use, for compiling the same .cu files as C++ for the CPU (the
// host executor, runtime/cuda/host_executor.py). A launch runs every (block, thread) of the
// grid in order on one CPU thread, which is exact because no kernel uses shared memory or
// barriers: __shared__ and __syncthreads are deliberately not defined, so a kernel that starts
// using them fails to build here instead of running wrongly (tests/runtime/cuda/test_host_build.py
// also checks the sources).
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))

struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
};
struct __attribute__((aligned(4))) uchar4 {
    unsigned char x, y, z, w;
};
inline uchar4 make_uchar4(unsigned char x, unsigned char y, unsigned char z, unsigned char w) {
    return uchar4{x, y, z, w};
}

// Per CPU thread, so two launches on two Python threads do not see each other's indices.
static thread_local uint3 threadIdx;
static thread_local uint3 blockIdx;
static thread_local dim3 blockDim;
static thread_local dim3 gridDim;

namespace bodypix_host {

// Calls kernel(*params[0], *params[1], ...): the argument array of cuLaunchKernel.
template <typename... Args, size_t... I>
inline void call_kernel(void (*kernel)(Args...), void** params, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<std::remove_reference_t<Args>>*>(params[I])...);
}

template <typename... Args>
inline void launch(void (*kernel)(Args...), const unsigned int* grid, const unsigned int* block,
                   void** params) {
    gridDim = dim3{grid[0], grid[1], grid[2]};
    blockDim = dim3{block[0], block[1], block[2]};
    for (unsigned int bz = 0; bz < grid[2]; ++bz)
        for (unsigned int by = 0; by < grid[1]; ++by)
            for (unsigned int bx = 0; bx < grid[0]; ++bx) {
                blockIdx = uint3{bx, by, bz};
                for (unsigned int tz = 0; tz < block[2]; ++tz)
                    for (unsigned int ty = 0; ty < block[1]; ++ty)
                        for (unsigned int tx = 0; tx < block[0]; ++tx) {
                            threadIdx = uint3{tx, ty, tz};
                            call_kernel(kernel, params, std::index_sequence_for<Args...>{});
                        }
            }
}

}  // namespace bodypix_host

// One exported entry point per kernel: bodypix_launch_<name>(grid[3], block[3], params).
#define BODYPIX_HOST_LAUNCHER(name)                                                          \
    extern "C" __attribute__((visibility("default"))) void bodypix_launch_##name(           \
        const unsigned int* grid, const unsigned int* block, void** params) {               \
        bodypix_host::launch(name, grid, block, params);                                     \
    }
