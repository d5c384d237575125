// Portability macros shared by host and device code.
#pragma once

// MINIDL_HD marks the element math that CPU and CUDA twins share (DESIGN.md §3): written once,
// compiled by g++ for the CPU loop and by nvcc for the kernel.
#if defined(__CUDACC__)
#define MINIDL_HD __host__ __device__ __forceinline__
#else
#define MINIDL_HD inline
#endif

#ifndef MINIDL_WITH_CUDA
#define MINIDL_WITH_CUDA 0
#endif
#ifndef MINIDL_WITH_MPI
#define MINIDL_WITH_MPI 0
#endif
