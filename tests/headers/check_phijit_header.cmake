# CTest script: <phijit/phijit.h> is API §1–8 and nothing else (DESIGN decision 10).
#   1. A file with only `#include <phijit/phijit.h>` includes exactly the repository headers
#      listed below (the compiler's -H output; a header that comes along is named with the
#      header that included it).
#   2. After that include, internal names are not declared: each snippet below must fail to
#      compile, with an error that names it; the same snippets compile with <phijit/compiler.h>
#      (so they fail for the right reason).
# Run as: cmake -DCXX=<compiler> -DSOURCE_DIR=<repo> -DWORK_DIR=<dir> [-DSYSTEM_INCLUDES=<dirs>]
#         -P check_phijit_header.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var CXX SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_phijit_header.cmake needs -D${var}=...")
  endif()
endforeach()

# The public closure, relative to the repository (API §1–8: dims and shapes, tensors, math,
# stencils and extrapolations, matrices, functions, solves, pictures, printing, errors).
set(allowed
  include/phijit/phijit.h
  frontend/gradient.h frontend/jit.h frontend/linear.h frontend/math.h frontend/matrices.h
  frontend/minimize.h frontend/picture.h frontend/print.h frontend/solve.h frontend/stencils.h
  frontend/tensor.h
  ir/dtype.h ir/error.h ir/extrapolation.h ir/shape.h)

set(flags -std=c++20 -fsyntax-only -I${SOURCE_DIR} -I${SOURCE_DIR}/include)
foreach(dir IN LISTS SYSTEM_INCLUDES)
  list(APPEND flags -isystem ${dir})
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# 1. The headers <phijit/phijit.h> brings along.
file(WRITE ${WORK_DIR}/only_phijit.cpp "#include <phijit/phijit.h>\n")
execute_process(COMMAND ${CXX} ${flags} -H ${WORK_DIR}/only_phijit.cpp
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE tree)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "<phijit/phijit.h> does not compile on its own:\n${tree}")
endif()
# -H prints one line per include, ". path" with one dot per level of nesting.
string(REPLACE "\n" ";" lines "${tree}")
set(stack "")
set(found "")
set(unexpected "")
foreach(line IN LISTS lines)
  if(line MATCHES "^Multiple include guards")
    break()
  endif()
  if(NOT line MATCHES "^(\\.+) (.+)$")
    continue()
  endif()
  string(LENGTH "${CMAKE_MATCH_1}" depth)
  get_filename_component(path "${CMAKE_MATCH_2}" ABSOLUTE)
  list(LENGTH stack size)
  while(size GREATER_EQUAL depth)
    list(POP_BACK stack)
    math(EXPR size "${size} - 1")
  endwhile()
  list(APPEND stack "${path}")
  file(RELATIVE_PATH rel "${SOURCE_DIR}" "${path}")
  if(rel MATCHES "^\\.\\./")
    continue()  # the standard library, fmt and the system
  endif()
  list(APPEND found "${rel}")
  if(NOT rel IN_LIST allowed)
    set(parent "the test file")
    if(depth GREATER 1)
      math(EXPR p "${depth} - 2")
      list(GET stack ${p} parent)
      file(RELATIVE_PATH parent "${SOURCE_DIR}" "${parent}")
    endif()
    list(APPEND unexpected "  ${rel} (included by ${parent})")
  endif()
endforeach()
if(unexpected)
  list(REMOVE_DUPLICATES unexpected)
  list(JOIN unexpected "\n" unexpected)
  message(FATAL_ERROR "<phijit/phijit.h> includes internal headers; keep them out of the public "
                      "headers (API §1–8 only, DESIGN decision 10):\n${unexpected}")
endif()
foreach(header IN LISTS allowed)
  if(NOT header IN_LIST found)
    message(FATAL_ERROR "${header} is no longer part of <phijit/phijit.h>: update this test's list")
  endif()
endforeach()

# 2. Internal names after #include <phijit/phijit.h>: (snippet, the name its error must mention).
set(snippets
  "phijit::Buffer* b = nullptr\;" "Buffer"
  "phijit::ir::Graph* g = nullptr\;" "ir"
  "namespace r = phijit::runtime\;" "runtime"
  "using T = phijit::detail::Trace\;" "Trace")
list(LENGTH snippets n)
math(EXPR last "${n} - 1")
foreach(i RANGE 0 ${last} 2)
  math(EXPR j "${i} + 1")
  list(GET snippets ${i} code)
  list(GET snippets ${j} name)
  file(WRITE ${WORK_DIR}/negative_${i}.cpp "#include <phijit/phijit.h>\n${code}\n")
  execute_process(COMMAND ${CXX} ${flags} ${WORK_DIR}/negative_${i}.cpp
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message(FATAL_ERROR "After #include <phijit/phijit.h>, `${code}` compiles: an internal name "
                        "is declared in the public header")
  endif()
  if(NOT err MATCHES "error:[^\n]*${name}")
    message(FATAL_ERROR "`${code}` fails to compile, but not because '${name}' is undeclared:\n${err}")
  endif()
  # The control: the research header does declare the IR and its buffers.
  if(i LESS 4)
    file(WRITE ${WORK_DIR}/positive_${i}.cpp "#include <phijit/compiler.h>\n${code}\n")
    execute_process(COMMAND ${CXX} ${flags} ${WORK_DIR}/positive_${i}.cpp
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "With <phijit/compiler.h>, `${code}` should compile:\n${err}")
    endif()
  endif()
endforeach()
list(JOIN found ", " found)
message(STATUS "<phijit/phijit.h> includes only the public headers: ${found}")
