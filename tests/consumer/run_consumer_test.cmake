# CTest script: phijit installed, then used by a separate project as a user would.
#   1. `cmake --install` of this build into a fresh prefix under WORK_DIR.
#   2. The installed headers are exactly the closure of <phijit/phijit.h> and
#      <phijit/compiler.h>: both compile against the installed tree alone (nothing missing), and
#      every installed header is one they include (nothing internal besides).
#   3. tests/consumer (project(consumer CXX): no C language) configures with
#      find_package(phijit) from that prefix, without finding any package of LLVM; it builds
#      and its program, which checks values of the public API, exits 0.
# Run as: cmake -DBUILD_DIR=<phijit build> -DSOURCE_DIR=<repo> -DWORK_DIR=<dir> -DCXX=<compiler>
#         -DGENERATOR=<generator> [-DMAKE_PROGRAM=<ninja>] [-DSYSTEM_INCLUDES=<dirs>]
#         [-DEXTRA_FLAGS=<compile and link flags, e.g. sanitizers>] -P run_consumer_test.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var BUILD_DIR SOURCE_DIR WORK_DIR CXX GENERATOR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumer_test.cmake needs -D${var}=...")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

# 1. Install.
run("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# 2. The installed headers against what the two public headers include from the installed tree.
file(GLOB_RECURSE installed RELATIVE ${prefix}/include ${prefix}/include/*)
file(WRITE ${WORK_DIR}/both.cpp "#include <phijit/phijit.h>\n#include <phijit/compiler.h>\n")
set(flags -std=c++20 -M -I${prefix}/include/phijit -I${prefix}/include)
foreach(dir IN LISTS SYSTEM_INCLUDES)
  list(APPEND flags -isystem ${dir})
endforeach()
run("Preprocessing <phijit/phijit.h> and <phijit/compiler.h> from the installed headers alone"
    ${CXX} ${flags} ${WORK_DIR}/both.cpp)
string(REPLACE "\\\n" " " deps "${out}")
string(REGEX REPLACE "[ \t\n]+" ";" deps "${deps}")
set(used "")
foreach(dep IN LISTS deps)
  get_filename_component(dep "${dep}" ABSOLUTE)
  file(RELATIVE_PATH rel ${prefix}/include "${dep}")
  if(NOT rel MATCHES "^\\.\\./")
    list(APPEND used "${rel}")
  endif()
endforeach()
set(extra "")
foreach(header IN LISTS installed)
  if(NOT header IN_LIST used)
    list(APPEND extra "${header}")
  endif()
endforeach()
if(extra)
  message(FATAL_ERROR "Installed headers that neither public header includes: ${extra}")
endif()
list(LENGTH installed count)
message(STATUS "Installed ${count} headers, all in the closure of the public headers")

# 3. The consumer project.
set(configure ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
if(MAKE_PROGRAM)
  list(APPEND configure -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
if(EXTRA_FLAGS)
  list(APPEND configure "-DCMAKE_CXX_FLAGS=${EXTRA_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${EXTRA_FLAGS}")
endif()
run("Configuring the consumer project" ${configure})
file(STRINGS ${WORK_DIR}/build/CMakeCache.txt phijit_dir REGEX "^phijit_DIR:")
if(NOT phijit_dir STREQUAL "phijit_DIR:PATH=${prefix}/lib/cmake/phijit")
  message(FATAL_ERROR "The consumer found another phijit: ${phijit_dir}")
endif()
file(STRINGS ${WORK_DIR}/build/CMakeCache.txt llvm REGEX "^(LLVM|spdlog|PNG|Eigen3)_DIR:")
if(llvm)
  message(FATAL_ERROR "find_package(phijit) looked for private dependencies: ${llvm}")
endif()
run("Building the consumer project" ${CMAKE_COMMAND} --build ${WORK_DIR}/build --parallel 2)
run("Running the consumer program" ${WORK_DIR}/build/consumer)
if(NOT out MATCHES "consumer: all checks passed")
  message(FATAL_ERROR "The consumer program did not report its checks:\n${out}")
endif()
message(STATUS "${out}")
