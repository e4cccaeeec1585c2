# Writes OUT, the header that defines MCP_SIDECAR_VERSION as VERSION+GIT_VERSION, where
# GIT_VERSION, unless given, is `git describe` of SOURCE_DIR now. The file is rewritten only
# when its text changes, so an unchanged version rebuilds nothing.
#   cmake -DSOURCE_DIR=... -DVERSION=0.1.0 [-DGIT_VERSION=...] -DOUT=.../version.hpp -P version.cmake
if(NOT GIT_VERSION)
  execute_process(COMMAND git -C ${SOURCE_DIR} describe --always --dirty
                  OUTPUT_VARIABLE GIT_VERSION OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
if(NOT GIT_VERSION)
  set(GIT_VERSION unknown)
endif()
set(text "#pragma once\n#define MCP_SIDECAR_VERSION \"${VERSION}+${GIT_VERSION}\"\n")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
