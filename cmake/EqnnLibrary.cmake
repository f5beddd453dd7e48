# eqnn_add_library(NAME SOURCES src... HEADERS hdr... INCLUDE_SUBDIR dir [LINK lib...] [PRIVATE_LINK lib...]
#                  [LAYER])
# A linkable part of the tree (a layer or constraint library, used directly from C++ and by its plugin):
# a SHARED library on libeqnn whose headers sit in its folder and install to <includedir>/eqnn/<dir>. With
# LAYER it joins the global property EQNN_LAYER_LIBRARIES, which the test binaries, the benchmarks and the
# Python package link. In-tree only (out-of-tree plugins use eqnn_add_plugin).
function(eqnn_add_library name)
  cmake_parse_arguments(ARG "LAYER" "INCLUDE_SUBDIR" "SOURCES;HEADERS;LINK;PRIVATE_LINK" ${ARGN})
  if(NOT ARG_SOURCES OR NOT ARG_INCLUDE_SUBDIR)
    message(FATAL_ERROR "eqnn_add_library(${name}): SOURCES and INCLUDE_SUBDIR are required")
  endif()
  add_library(${name} SHARED ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/eqnn/${ARG_INCLUDE_SUBDIR}>)
  target_link_libraries(${name} PUBLIC eqnn::eqnn ${ARG_LINK} PRIVATE ${ARG_PRIVATE_LINK})
  install(TARGETS ${name} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(FILES ${ARG_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/eqnn/${ARG_INCLUDE_SUBDIR})
  if(ARG_LAYER)
    set_property(GLOBAL APPEND PROPERTY EQNN_LAYER_LIBRARIES ${name})
  endif()
endfunction()
