// The CUDA device: cudaMalloc'd memory on the current GPU, moved with
// cudaMemcpy, filled with cudaMemset or a tiny kernel. Linked against the
// static CUDA runtime, so a machine without a driver or a GPU loads the core
// fine and this device just reports itself unavailable.
#include "device_impl.h"

#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

namespace {

// Messages live in static buffers: the interface returns them as const char *.
char g_reason[256];
char g_error[256];
bool g_probed = false;
const char *g_unavailable = nullptr;

const char *fail(const char *what, cudaError_t e) {
  snprintf(g_error, sizeof g_error, "%s: %s", what, cudaGetErrorString(e));
  cudaGetLastError();  // reset the runtime's last-error state so later checks see only new errors
  return g_error;
}

// Asked once: the answer cannot change while the process runs, and asking the
// driver again on every tensor creation would cost microseconds each.
const char *cuda_unavailable() {
  if (!g_probed) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorInsufficientDriver) {
      // also what a machine with no NVIDIA driver at all reports
      snprintf(g_reason, sizeof g_reason, "no CUDA device found (no NVIDIA driver, or one older than CUDA %d.%d)",
               CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
      cudaGetLastError();
      g_unavailable = g_reason;
    } else if (e != cudaSuccess) {
      snprintf(g_reason, sizeof g_reason, "no CUDA device found (cudaGetDeviceCount: %s)", cudaGetErrorString(e));
      cudaGetLastError();
      g_unavailable = g_reason;
    } else if (n == 0) {
      snprintf(g_reason, sizeof g_reason, "no CUDA device found");
      g_unavailable = g_reason;
    }
    g_probed = true;
  }
  return g_unavailable;
}

void *cuda_alloc(size_t bytes) {
  void *p = nullptr;
  if (cudaMalloc(&p, bytes ? bytes : 64) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;  // cudaMalloc aligns to at least 256 bytes
}

void cuda_free(void *p) {
  if (p) cudaFree(p);
}

const char *cuda_to_host(void *host, const void *src, size_t bytes) {
  cudaError_t e = cudaMemcpy(host, src, bytes, cudaMemcpyDeviceToHost);
  return e == cudaSuccess ? nullptr : fail("cudaMemcpy (device to host)", e);
}

const char *cuda_from_host(void *dst, const void *host, size_t bytes) {
  cudaError_t e = cudaMemcpy(dst, host, bytes, cudaMemcpyHostToDevice);
  return e == cudaSuccess ? nullptr : fail("cudaMemcpy (host to device)", e);
}

const char *cuda_copy(void *dst, const void *src, size_t bytes) {
  cudaError_t e = cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice);
  return e == cudaSuccess ? nullptr : fail("cudaMemcpy (device to device)", e);
}

const char *cuda_memset(void *dst, int byte, size_t bytes) {
  cudaError_t e = cudaMemset(dst, byte, bytes);
  return e == cudaSuccess ? nullptr : fail("cudaMemset", e);
}

// One element pattern of 4 or 8 bytes, so the same kernel serves i32, float
// and double without knowing the build's precision.
template <typename T>
__global__ void fill_kernel(T *dst, T value, size_t count) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x)
    dst[i] = value;
}

const char *cuda_fill(void *dst, const void *value, size_t elem_size, size_t count) {
  if (count == 0) return nullptr;
  unsigned blocks = (unsigned)((count + 255) / 256 < 4096 ? (count + 255) / 256 : 4096);
  if (elem_size == 4) {
    uint32_t v;
    memcpy(&v, value, 4);
    fill_kernel<<<blocks, 256>>>((uint32_t *)dst, v, count);
  } else if (elem_size == 8) {
    uint64_t v;
    memcpy(&v, value, 8);
    fill_kernel<<<blocks, 256>>>((uint64_t *)dst, v, count);
  } else {
    return "fill: element size must be 4 or 8";
  }
  cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : fail("fill kernel launch", e);
}

const char *cuda_sync() {
  cudaError_t e = cudaDeviceSynchronize();
  return e == cudaSuccess ? nullptr : fail("cudaDeviceSynchronize", e);
}

}  // namespace

extern "C" const ds_device_impl ds_device_cuda_impl = {
    "cuda", cuda_unavailable, cuda_alloc, cuda_free, cuda_to_host, cuda_from_host, cuda_copy, cuda_memset, cuda_fill,
    cuda_sync,
};
