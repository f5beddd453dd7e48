# eqnn_add_plugin(NAME SOURCES src... [OUTPUT_DIRECTORY dir] [INSTALL_DESTINATION dir] [NO_INSTALL])
# Builds an eqnn plugin: a MODULE library (no "lib" prefix) linked to libeqnn, hidden visibility so it
# exports only eqnn_plugin_info. Inside the eqnn tree the plugin goes to the shipped plugin directory
# and is installed next to libeqnn; out of tree it stays in the build directory unless
# INSTALL_DESTINATION is given. Point EQNN_PLUGIN_PATH (or --plugin-path) at the directory holding it.
function(eqnn_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY;INSTALL_DESTINATION" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "eqnn_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE eqnn::eqnn)
  set_target_properties(${name} PROPERTIES PREFIX "" CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  elseif(DEFINED EQNN_PLUGIN_OUTPUT_DIRECTORY AND TARGET eqnn_shipped_plugins)
    add_dependencies(eqnn_shipped_plugins ${name})
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${EQNN_PLUGIN_OUTPUT_DIRECTORY})
  endif()
  if(ARG_NO_INSTALL)
    return()
  endif()
  if(ARG_INSTALL_DESTINATION)
    install(TARGETS ${name} LIBRARY DESTINATION ${ARG_INSTALL_DESTINATION})
  elseif(DEFINED EQNN_INSTALL_PLUGIN_DIR AND NOT ARG_OUTPUT_DIRECTORY)
    # In-tree shipped plugin: <libdir>/eqnn/plugins, two levels below libeqnn.
    set_target_properties(${name} PROPERTIES INSTALL_RPATH "${EQNN_INSTALL_RPATH_PLUGIN}")
    install(TARGETS ${name} LIBRARY DESTINATION ${EQNN_INSTALL_PLUGIN_DIR})
  endif()
endfunction()

# eqnn_add_plugin_subdirectories()
# One subdirectory per plugin: adds every subdirectory of the current source directory that has a
# CMakeLists.txt (which calls eqnn_add_plugin), in sorted order, so a new plugin needs no edit there.
function(eqnn_add_plugin_subdirectories)
  file(GLOB _children RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*)
  list(SORT _children)
  foreach(_child IN LISTS _children)
    if(IS_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/${_child} AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${_child}/CMakeLists.txt)
      add_subdirectory(${_child})
    endif()
  endforeach()
endfunction()
