# Writes OUT, a header with the source tree's git revision, at every build (cmake -P), and only
# when it changed: configure_file ran once at configure time, and an incremental build then
# recorded a revision it was no longer built from.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE revision OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT revision)
  set(revision unknown)
else()
  # A build from changed tracked files is not that commit's: say so, as git describe --dirty does
  # (the H200 reference run of 5d795f3 was built before its commit and recorded the one before).
  execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SRC}
                  OUTPUT_VARIABLE changed OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(changed)
    string(APPEND revision "-dirty")
  endif()
endif()
set(text "#pragma once\nnamespace primbench {\ninline constexpr const char* kGitRevision = \"${revision}\";\n}  // namespace primbench\n")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
