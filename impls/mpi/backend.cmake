# MPI backend: mpi.native, mpi.linear, mpi.binomial, the variants (mpi.inplace, mpi.nonblocking,
# mpi.persistent), and the mpi4py peer's placeholders.
# include()d from impls/CMakeLists.txt, so variables set here are in that scope.
option(PRIMBENCH_WITH_MPI "Build the MPI backend when MPI is found" ON)
if(PRIMBENCH_WITH_MPI)
  find_package(MPI QUIET COMPONENTS CXX)
endif()
if(NOT PRIMBENCH_WITH_MPI)
  primbench_backend_status(mpi OFF "PRIMBENCH_WITH_MPI=OFF")
elseif(NOT MPI_CXX_FOUND)
  primbench_backend_status(mpi OFF "MPI not found (apt-get install libopenmpi-dev openmpi-bin)")
else()
  add_library(primbench_mpi OBJECT ${CMAKE_CURRENT_LIST_DIR}/world.cpp ${CMAKE_CURRENT_LIST_DIR}/mpi.cpp
                                   ${CMAKE_CURRENT_LIST_DIR}/variants.cpp
                                   ${CMAKE_CURRENT_LIST_DIR}/mpi4py.cpp ${CMAKE_CURRENT_LIST_DIR}/launch.cpp)
  target_include_directories(primbench_mpi PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(primbench_mpi PUBLIC primbench_api MPI::MPI_CXX PRIVATE fmt::fmt)
  target_compile_definitions(primbench_mpi PRIVATE PRIMBENCH_MPI4PY_PEER="${CMAKE_CURRENT_LIST_DIR}/mpi4py_peer.py"
                                                    PRIMBENCH_CHECK_LIBRARY="$<TARGET_FILE:primbench_check>"
                                                    PRIMBENCH_MPIEXEC="${MPIEXEC_EXECUTABLE}")
  list(APPEND PRIMBENCH_BACKENDS primbench_mpi)
  primbench_backend_status(mpi ON "MPI ${MPI_CXX_VERSION}, ${MPIEXEC_EXECUTABLE}")
endif()
