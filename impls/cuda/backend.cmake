# CUDA backend: built when nvcc is found (and PRIMBENCH_WITH_CUDA is ON), whether or not this
# machine has a GPU; at run time the backend's probe says whether a device can be used.
# include()d from impls/CMakeLists.txt, so the variables set here are in that scope.
option(PRIMBENCH_WITH_CUDA "Build the CUDA backend when a CUDA compiler is found" ON)

if(NOT PRIMBENCH_WITH_CUDA)
  primbench_backend_status(cuda OFF "PRIMBENCH_WITH_CUDA=OFF")
  return()
endif()

# Default toolkit location, so a plain configure finds nvcc without PATH changes.
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  primbench_backend_status(cuda OFF "no CUDA compiler found (install the CUDA toolkit, or set CUDACXX)")
  return()
endif()

# Hopper (H100/H200) by default; -DCMAKE_CUDA_ARCHITECTURES=80;90 etc. for other GPUs.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "CUDA architectures to build for (90: Hopper)")
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

# CMake before 3.26 does not know nvcc's C++20 flag; nvcc 12 and later take it.
if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
set(CMAKE_CUDA_STANDARD 20)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
set(CMAKE_CUDA_EXTENSIONS OFF)

# Two translation units, compiled in parallel: the hand-written kernels and the CCCL path.
add_library(primbench_cuda OBJECT
  ${CMAKE_CURRENT_LIST_DIR}/device.cu
  ${CMAKE_CURRENT_LIST_DIR}/cub.cu)
target_link_libraries(primbench_cuda PUBLIC primbench_api CUDA::cudart)
# The project-wide -Wall -Wextra are host-compiler flags: nvcc takes them through -Xcompiler.
set_property(TARGET primbench_cuda PROPERTY COMPILE_OPTIONS -Xcompiler=-Wall,-Wextra)
string(REPLACE ";" "," primbench_cuda_archs "${CMAKE_CUDA_ARCHITECTURES}")
target_compile_definitions(primbench_cuda PRIVATE PRIMBENCH_CUDA_ARCHITECTURES="${primbench_cuda_archs}")
target_compile_options(primbench_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xptxas=-warn-spills>)
list(APPEND PRIMBENCH_BACKENDS primbench_cuda)

primbench_backend_status(cuda ON
  "CUDA ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}")

# The tuning probe for cuda.kernel's copy (impls/cuda/copy_variants.cu, run by gpu-suite.sh
# variants): not part of primbench, built with it so that it cannot rot.
add_executable(primbench_copy_variants ${CMAKE_CURRENT_LIST_DIR}/copy_variants.cu)
target_link_libraries(primbench_copy_variants PRIVATE CUDA::cudart)
target_compile_options(primbench_copy_variants PRIVATE --expt-relaxed-constexpr)
