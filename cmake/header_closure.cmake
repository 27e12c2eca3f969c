# The closure of phijit's public headers: which of the repository's headers a public header
# includes, directly or through others. Installation uses it (only these headers are installed),
# and it runs at install time, so a header that a public header starts to include is installed
# without anyone editing a list.

# The install script that includes this file sets no policies; the functions keep these.
cmake_policy(PUSH)
cmake_policy(VERSION 3.25)

# phijit_header_closure(<out-var> <source-dir> <header>...): the absolute paths of <header>s
# and of every repository header they include. A quoted include ("frontend/jit.h") or one of
# <phijit/...> is looked up next to the including file, then under <source-dir> and
# <source-dir>/include (the library's include roots); other angle-bracket includes (std, fmt)
# are not the repository's and are not followed. A quoted include found nowhere is an error.
function(phijit_header_closure out source_dir)
  set(todo ${ARGN})
  set(closure "")
  while(todo)
    list(POP_FRONT todo header)
    if(header IN_LIST closure)
      continue()
    endif()
    list(APPEND closure "${header}")
    get_filename_component(here "${header}" DIRECTORY)
    file(STRINGS "${header}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<]")
    foreach(line IN LISTS lines)
      if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\"")
        set(name "${CMAKE_MATCH_1}")
      elseif(line MATCHES "^[ \t]*#[ \t]*include[ \t]*<(phijit/[^>]+)>")
        set(name "${CMAKE_MATCH_1}")
      else()
        continue()
      endif()
      set(found "")
      foreach(root "${here}" "${source_dir}" "${source_dir}/include")
        if(EXISTS "${root}/${name}")
          get_filename_component(found "${root}/${name}" ABSOLUTE)
          break()
        endif()
      endforeach()
      if(NOT found)
        message(FATAL_ERROR "${header} includes \"${name}\", which is not a header of phijit")
      endif()
      list(APPEND todo "${found}")
    endforeach()
  endwhile()
  list(SORT closure)
  set(${out} "${closure}" PARENT_SCOPE)
endfunction()

# phijit_install_header_closure(<source-dir> <include-dest> <header>...): installs the closure of
# <header>s under <include-dest> (an absolute path; DESTDIR applies), in the layout the
# installed include directories expect: include/phijit/x.h as <include-dest>/phijit/x.h, any
# other repository header d/x.h as <include-dest>/phijit/d/x.h (found through the installed
# include/phijit, as "d/x.h" is found through the source root when building).
function(phijit_install_header_closure source_dir include_dest)
  phijit_header_closure(headers "${source_dir}" ${ARGN})
  foreach(header IN LISTS headers)
    file(RELATIVE_PATH rel "${source_dir}" "${header}")
    if(rel MATCHES "^include/(.*)$")
      set(rel "${CMAKE_MATCH_1}")
    else()
      set(rel "phijit/${rel}")
    endif()
    get_filename_component(dir "${rel}" DIRECTORY)
    file(INSTALL DESTINATION "${include_dest}/${dir}" TYPE FILE FILES "${header}")
  endforeach()
endfunction()

cmake_policy(POP)
