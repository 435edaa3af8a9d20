# Which sources use no LibTorch header, so that they skip the precompiled one: GCC reads the whole
# precompiled <torch/torch.h> (about 600 MB) for every file that uses it, about 5 s each, longer than
# most files that never touch a tensor (config, tokenizers, the families' key tables) take to compile.

# dlm_includes_torch(FILE OUT): OUT is ON when FILE, or a header it includes from this project
# (followed through include/ and src/), includes a LibTorch header.
function(dlm_includes_torch file out)
  get_property(known GLOBAL PROPERTY "dlm_torch:${file}" SET)
  if(NOT known)
    # Marked first, so that headers including each other end the walk.
    set_property(GLOBAL PROPERTY "dlm_torch:${file}" OFF)
    file(STRINGS "${file}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
    get_filename_component(dir "${file}" DIRECTORY)
    set(uses OFF)
    foreach(line IN LISTS includes)
      if(line MATCHES "[<\"](torch|ATen|c10)/")
        set(uses ON)
      elseif(line MATCHES "[<\"]([^>\"]+)[>\"]")
        foreach(root "${dir}" "${PROJECT_SOURCE_DIR}/include" "${PROJECT_SOURCE_DIR}/src")
          if(EXISTS "${root}/${CMAKE_MATCH_1}" AND NOT IS_DIRECTORY "${root}/${CMAKE_MATCH_1}")
            dlm_includes_torch("${root}/${CMAKE_MATCH_1}" header_uses)
            if(header_uses)
              set(uses ON)
            endif()
            break()
          endif()
        endforeach()
      endif()
      if(uses)
        break()
      endif()
    endforeach()
    set_property(GLOBAL PROPERTY "dlm_torch:${file}" ${uses})
  endif()
  get_property(uses GLOBAL PROPERTY "dlm_torch:${file}")
  set(${out} ${uses} PARENT_SCOPE)
endfunction()

# dlm_skip_pch_without_torch(TARGET): TARGET's sources that use no LibTorch header are compiled
# without the precompiled header. Unity builds keep it: there one batch reads it once for many files.
function(dlm_skip_pch_without_torch target)
  if(NOT DLM_USE_PCH OR CMAKE_UNITY_BUILD)
    return()
  endif()
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  foreach(source IN LISTS sources)
    get_filename_component(path "${source}" ABSOLUTE BASE_DIR "${source_dir}")
    dlm_includes_torch("${path}" uses)
    if(NOT uses)
      set_source_files_properties(${source} TARGET_DIRECTORY ${target} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
  endforeach()
endfunction()
