# eqnn_find_torch([args for find_package(Torch)...]): find_package(Torch), with every library LibTorch's
# CMake config adds taken from that LibTorch's own lib/ directory, and checked.
#
# Why: TorchConfig.cmake looks its libraries up with find_library(<name> PATHS <torch>/lib), and CMake
# searches the system directories before PATHS. With Debian's libtorch-dev installed, a build against the
# torch wheel then links /usr/lib/x86_64-linux-gnu/libc10.so (LibTorch 1.13) beside the wheel's libtorch
# 2.x, and the first program corrupts its heap at start-up ("malloc(): unsorted double linked list
# corrupted"). So, before TorchConfig.cmake runs, the cache variables it searches for are filled from
# <torch>/lib only; afterwards every LibTorch library in TORCH_LIBRARIES (and the location of every
# imported LibTorch target) must lie inside <torch>, or configuring stops naming the stray file.
# Used by the top-level CMakeLists.txt and by the installed eqnnConfig.cmake (out-of-tree plugins).

# The cache variables TorchConfig.cmake fills with find_library, and the library each one names.
set(EQNN_TORCH_LIBRARY_VARIABLES TORCH_LIBRARY:torch c10_LIBRARY:c10 kineto_LIBRARY:kineto
                                 C10_CUDA_LIBRARY:c10_cuda)
# File names of LibTorch's own libraries (anything else in TORCH_LIBRARIES, e.g. the CUDA toolkit's
# libraries, may come from elsewhere).
set(EQNN_TORCH_OWN_LIBRARY_REGEX "^lib(torch|c10|caffe2|kineto|shm)[_.a-z0-9]*\\.(so|a)(\\.[0-9.]+)?$")

macro(eqnn_find_torch)
  # 1. Where is the LibTorch find_package(Torch) will load? Torch_DIR if set, else the first
  #    CMAKE_PREFIX_PATH entry holding TorchConfig.cmake (a LibTorch root, or torch.utils.cmake_prefix_path).
  unset(EQNN_TORCH_CONFIG_DIR CACHE)
  find_path(EQNN_TORCH_CONFIG_DIR TorchConfig.cmake HINTS ${Torch_DIR} PATHS ${CMAKE_PREFIX_PATH} ENV CMAKE_PREFIX_PATH
            PATH_SUFFIXES share/cmake/Torch Torch NO_DEFAULT_PATH)
  # 2. Fill TorchConfig.cmake's cache variables from <torch>/lib only (a value already in the cache, e.g.
  #    from a configure before this check existed, is kept and checked below). Its find_package(Caffe2
  #    PATHS <torch>/share/cmake/Caffe2) has the same flaw: PATHS comes after CMAKE_PREFIX_PATH and the
  #    system prefixes, so Debian's /usr/lib/x86_64-linux-gnu/cmake/Caffe2 (whose imported target `torch`
  #    is /usr/lib/.../libtorch.so.1.13) won unless CMAKE_PREFIX_PATH happened to name the wheel's share/cmake:
  #    Caffe2_DIR is set to the same LibTorch's.
  if(EQNN_TORCH_CONFIG_DIR)
    get_filename_component(_eqnn_caffe2_dir "${EQNN_TORCH_CONFIG_DIR}/../Caffe2" ABSOLUTE)
    if(NOT Caffe2_DIR AND EXISTS "${_eqnn_caffe2_dir}/Caffe2Config.cmake")
      set(Caffe2_DIR "${_eqnn_caffe2_dir}" CACHE PATH "The Caffe2 CMake config of the LibTorch eqnn builds against")
    endif()
    get_filename_component(_eqnn_torch_lib "${EQNN_TORCH_CONFIG_DIR}/../../../lib" ABSOLUTE)
    foreach(_eqnn_pair IN LISTS EQNN_TORCH_LIBRARY_VARIABLES)
      string(REPLACE ":" ";" _eqnn_pair "${_eqnn_pair}")
      list(GET _eqnn_pair 0 _eqnn_var)
      list(GET _eqnn_pair 1 _eqnn_name)
      find_library(${_eqnn_var} ${_eqnn_name} PATHS "${_eqnn_torch_lib}" NO_DEFAULT_PATH)
    endforeach()
  endif()
  unset(EQNN_TORCH_CONFIG_DIR CACHE)

  find_package(Torch ${ARGN})

  # 3. Check: every LibTorch library lies inside the LibTorch that was loaded.
  if(Torch_FOUND)
    eqnn_check_torch_libraries()
  endif()
endmacro()

function(eqnn_check_torch_libraries)
  get_filename_component(_root "${TORCH_INSTALL_PREFIX}" REALPATH)
  set(_fix "Fix: configure a fresh build folder, or run cmake again with -U '*_LIBRARY' -U Caffe2_DIR; eqnn then "
           "takes every LibTorch library and config from '${_root}' (a system LibTorch such as Debian's "
           "libtorch-dev may stay installed).")
  if(Caffe2_DIR)
    get_filename_component(_caffe2 "${Caffe2_DIR}" REALPATH)
    string(FIND "${_caffe2}/" "${_root}/" _at)
    if(NOT _at EQUAL 0)
      message(FATAL_ERROR
        "eqnn: LibTorch's Caffe2 config Caffe2_DIR='${Caffe2_DIR}' lies outside the LibTorch being built against, "
        "'${_root}' (Torch_DIR=${Torch_DIR}): its imported targets name another LibTorch's libraries. ${_fix}")
    endif()
  endif()
  # Files to check: the cache variables, TORCH_LIBRARIES' paths, and the imported LibTorch targets'
  # locations (for every configuration they were imported for).
  set(_files)
  set(_origins)
  foreach(_pair IN LISTS EQNN_TORCH_LIBRARY_VARIABLES)
    string(REPLACE ":" ";" _pair "${_pair}")
    list(GET _pair 0 _var)
    if(${_var})
      list(APPEND _files "${${_var}}")
      list(APPEND _origins "the cache variable ${_var}")
    endif()
  endforeach()
  foreach(_entry IN LISTS TORCH_LIBRARIES)
    if(IS_ABSOLUTE "${_entry}")
      list(APPEND _files "${_entry}")
      list(APPEND _origins "TORCH_LIBRARIES")
    endif()
  endforeach()
  foreach(_target torch torch_cpu torch_cuda c10 c10_cuda torch_nvshmem)
    if(TARGET ${_target})
      get_target_property(_imported ${_target} IMPORTED)
      if(_imported)
        get_target_property(_configs ${_target} IMPORTED_CONFIGURATIONS)
        set(_props IMPORTED_LOCATION)
        foreach(_config IN LISTS _configs)
          list(APPEND _props IMPORTED_LOCATION_${_config})
        endforeach()
        foreach(_prop IN LISTS _props)
          get_target_property(_location ${_target} ${_prop})
          if(_location)
            list(APPEND _files "${_location}")
            list(APPEND _origins "the imported target ${_target} (${_prop})")
          endif()
        endforeach()
      endif()
    endif()
  endforeach()

  list(LENGTH _files _count)
  if(_count EQUAL 0)
    return()
  endif()
  math(EXPR _last "${_count} - 1")
  foreach(_i RANGE ${_last})
    list(GET _files ${_i} _file)
    list(GET _origins ${_i} _origin)
    get_filename_component(_name "${_file}" NAME)
    if(NOT _name MATCHES "${EQNN_TORCH_OWN_LIBRARY_REGEX}")
      continue()  # not one of LibTorch's own libraries (e.g. the CUDA toolkit's)
    endif()
    get_filename_component(_real "${_file}" REALPATH)
    string(FIND "${_real}/" "${_root}/" _at)
    if(NOT _at EQUAL 0)
      message(FATAL_ERROR
        "eqnn: LibTorch library '${_file}' (from ${_origin}) lies outside the LibTorch being built against, "
        "'${_root}' (Torch_DIR=${Torch_DIR}): two LibTorch builds in one program corrupt its heap at start-up. "
        "${_fix}")
    endif()
  endforeach()
endfunction()
