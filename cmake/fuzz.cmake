# The libFuzzer targets (tests/fuzz/, issue 14): -DUDPX_FUZZ=ON in a build of its own, with clang
# (Debian's clang and libclang-rt-dev): cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DUDPX_FUZZ=ON
# (`make fuzz`, `make test-fuzz`). Everything is compiled with ASan, UBSan and libFuzzer's coverage
# hooks; each target links udpx_lib, a static archive, so it takes only the objects its parser needs.
# ctest runs each target for UDPX_FUZZ_SECONDS over its seed corpus (tests/fuzz/corpus/<target>/)
# and fails on any crash, leak, timeout or UBSan report.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "UDPX_FUZZ needs clang (libFuzzer): -DCMAKE_CXX_COMPILER=clang++")
endif()

# libseccomp's SCMP_A0.. macros are C compound literals, which clang (not GCC) warns about in C++.
set_property(SOURCE src/privsep/sandbox.cpp APPEND PROPERTY COMPILE_OPTIONS -Wno-c99-extensions
             -Wno-missing-field-initializers)

set(UDPX_FUZZ_SECONDS 10 CACHE STRING "How long ctest runs each fuzz target")
set(UDPX_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz)

# name | source | extra definitions
set(UDPX_FUZZ_TARGETS
  "ntp_packet|protocol_fuzz.cpp|UDPX_FUZZ_PRESET=Ntp"
  "dns_packet|protocol_fuzz.cpp|UDPX_FUZZ_PRESET=Dns"
  "syslog_packet|protocol_fuzz.cpp|UDPX_FUZZ_PRESET=Syslog"
  "raw_packet|protocol_fuzz.cpp|UDPX_FUZZ_PRESET=Raw"
  "ntp_probe|probe_fuzz.cpp|UDPX_FUZZ_PROBE=Ntp"
  "dns_probe|probe_fuzz.cpp|UDPX_FUZZ_PROBE=Dns"
  "raw_probe|probe_fuzz.cpp|UDPX_FUZZ_PROBE=Raw"
  "config|config_fuzz.cpp|"
  "handover|handover_fuzz.cpp|"
  "link_message|link_fuzz.cpp|"
  "activation_env|activation_fuzz.cpp|"
  "status_json|status_json_fuzz.cpp|"
  "http_request|http_fuzz.cpp|")

set(UDPX_FUZZ_NAMES)
foreach(row ${UDPX_FUZZ_TARGETS})
  string(REPLACE "|" ";" parts "${row}")
  list(GET parts 0 name)
  list(GET parts 1 source)
  list(LENGTH parts n)
  set(defs "")
  if(n GREATER 2)
    list(GET parts 2 defs)
  endif()
  set(exe fuzz_${name})
  add_executable(${exe} ${UDPX_FUZZ_DIR}/${source})
  target_compile_options(${exe} PRIVATE ${UDPX_WARNINGS})
  target_link_libraries(${exe} PRIVATE udpx_lib)
  target_link_options(${exe} PRIVATE -fsanitize=fuzzer)
  if(defs)
    target_compile_definitions(${exe} PRIVATE ${defs})
  endif()
  list(APPEND UDPX_FUZZ_NAMES ${name})
  set(dict "")
  if(EXISTS ${UDPX_FUZZ_DIR}/dict/${name}.dict)
    set(dict "-dict=${UDPX_FUZZ_DIR}/dict/${name}.dict")
  endif()
  # The seed corpus is read, never written: new inputs go to a scratch directory in the build.
  add_test(NAME fuzz.${name}
           COMMAND ${UDPX_FUZZ_DIR}/run.sh $<TARGET_FILE:${exe}> ${UDPX_FUZZ_DIR}/corpus/${name}
                   ${CMAKE_CURRENT_BINARY_DIR}/fuzz-work/${name} ${UDPX_FUZZ_SECONDS} ${dict})
  set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 600)
endforeach()
