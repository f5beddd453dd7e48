# Precompiled LibTorch headers, compiled once per build tree and shared by every C++ target in it (GCC).
# Nearly every translation unit includes <torch/nn/module.h> (eqnn::Layer is a torch::nn::Module), which
# brings ATen/ATen.h with every operator and the JIT module behind Module's serialization: ~8 s of CPU to
# parse, ~2 s to load precompiled. One PCH per code model (GCC refuses a -fPIC PCH in -fPIE code):
#   eqnn_pch_pic  for libeqnn, the layer/constraint libraries, the plugins and the Python extension;
#   eqnn_pch_pie  for the executables (CLI, test binaries, benchmarks, fuzz replays, examples).
# Each producer is an object library with exactly libeqnn's public usage requirements and no defines of its
# own: GCC uses a PCH only where every macro defined when it was built is defined the same way (a consumer's
# extra macros are fine), otherwise it says "not used because ..." (-Winvalid-pch) and parses the headers.
# Clang (scripts/sanitize.sh) also refuses a PCH built with another -fvisibility/-fvisibility-inlines-hidden,
# so under clang a third producer serves the plugins (eqnn_add_plugin: both hidden):
#   eqnn_pch_pic_hidden  -fPIC, hidden visibility, hidden inlines;
# a target whose visibility matches no producer compiles without a PCH. Other compilers keep libeqnn's own
# PCH only. ccache caches objects built with a PCH given the sloppiness set with the launcher in the
# top-level CMakeLists.txt.
option(EQNN_PCH "Share precompiled LibTorch headers between the targets of this tree (GCC, Clang)" ON)
set(EQNN_PCH_HEADERS <torch/nn/module.h> <ATen/ATen.h> <Eigen/Dense>)

# eqnn_add_pch_producers(): after libeqnn is defined (framework/CMakeLists.txt).
function(eqnn_add_pch_producers)
  if(NOT EQNN_PCH OR NOT CMAKE_CXX_COMPILER_ID MATCHES "^(GNU|Clang)$")
    target_precompile_headers(eqnn PRIVATE ${EQNN_PCH_HEADERS})
    return()
  endif()
  set(_anchor ${CMAKE_BINARY_DIR}/eqnn_pch_anchor.cpp)
  if(NOT EXISTS ${_anchor})
    file(WRITE ${_anchor} "// The precompiled headers' producers need one source of their own.\n")
  endif()
  # libeqnn's public usage requirements, taken as written (not by linking libeqnn, which reuses the PCH).
  get_target_property(_includes eqnn INTERFACE_INCLUDE_DIRECTORIES)
  get_target_property(_defines eqnn INTERFACE_COMPILE_DEFINITIONS)
  get_target_property(_libs eqnn INTERFACE_LINK_LIBRARIES)
  set(_kinds pic pie)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    list(APPEND _kinds pic_hidden)
  endif()
  foreach(_kind IN LISTS _kinds)
    add_library(eqnn_pch_${_kind} OBJECT ${_anchor})
    target_include_directories(eqnn_pch_${_kind} PRIVATE ${_includes})
    target_compile_definitions(eqnn_pch_${_kind} PRIVATE ${_defines})
    target_link_libraries(eqnn_pch_${_kind} PRIVATE ${_libs})
    target_precompile_headers(eqnn_pch_${_kind} PRIVATE ${EQNN_PCH_HEADERS})
  endforeach()
  # An object library is compiled -fPIC under POSITION_INDEPENDENT_CODE; the executables' code is -fPIE.
  set_target_properties(eqnn_pch_pie PROPERTIES POSITION_INDEPENDENT_CODE OFF)
  target_compile_options(eqnn_pch_pie PRIVATE -fPIE)
  if(TARGET eqnn_pch_pic_hidden)
    set_target_properties(eqnn_pch_pic_hidden PROPERTIES CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  endif()
  target_precompile_headers(eqnn REUSE_FROM eqnn_pch_pic)
endfunction()

# eqnn_share_pch(): at the end of the top-level CMakeLists.txt. Every library, plugin and executable of the
# tree that has no precompiled headers of its own reuses the producer for its code model; a source marked
# SKIP_PRECOMPILE_HEADERS (no LibTorch in it) is compiled without.
function(eqnn_share_pch)
  if(NOT TARGET eqnn_pch_pic)
    return()
  endif()
  set(_dirs ${PROJECT_SOURCE_DIR})
  while(_dirs)
    list(POP_FRONT _dirs _dir)
    get_property(_subdirs DIRECTORY ${_dir} PROPERTY SUBDIRECTORIES)
    list(APPEND _dirs ${_subdirs})
    get_property(_targets DIRECTORY ${_dir} PROPERTY BUILDSYSTEM_TARGETS)
    foreach(_target IN LISTS _targets)
      get_target_property(_type ${_target} TYPE)
      get_target_property(_own ${_target} PRECOMPILE_HEADERS)
      get_target_property(_reuse ${_target} PRECOMPILE_HEADERS_REUSE_FROM)
      if(_own OR _reuse OR _target MATCHES "^eqnn_pch_")
        continue()
      endif()
      # libFuzzer's entry targets (-fsanitize=fuzzer, tests/fuzz) are one source each; clang refuses a PCH
      # built without that flag.
      get_target_property(_options ${_target} COMPILE_OPTIONS)
      if(_options MATCHES "-fsanitize=fuzzer(;|$)")
        continue()
      endif()
      get_target_property(_visibility ${_target} CXX_VISIBILITY_PRESET)
      get_target_property(_inlines ${_target} VISIBILITY_INLINES_HIDDEN)
      set(_hidden FALSE)
      set(_default TRUE)
      if(_visibility STREQUAL "hidden" AND _inlines)
        set(_hidden TRUE)
      endif()
      if(_visibility OR _inlines)
        set(_default FALSE)
      endif()
      # GCC accepts a PCH across visibility settings; clang does not.
      if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
        set(_default TRUE)
      endif()
      if(_type STREQUAL "EXECUTABLE" AND _default)
        target_precompile_headers(${_target} REUSE_FROM eqnn_pch_pie)
      elseif(_type MATCHES "^(SHARED|MODULE)_LIBRARY$" AND _default)
        target_precompile_headers(${_target} REUSE_FROM eqnn_pch_pic)
      elseif(_type MATCHES "^(SHARED|MODULE)_LIBRARY$" AND _hidden AND TARGET eqnn_pch_pic_hidden)
        target_precompile_headers(${_target} REUSE_FROM eqnn_pch_pic_hidden)
      endif()
    endforeach()
  endwhile()
endfunction()
