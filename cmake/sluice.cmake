# sluice_component(NAME DEPS...): one static library per folder from its *.cc files
# (tests excluded), plus one gtest binary from its *_test.cc files, registered with CTest.
function(sluice_component name)
  cmake_parse_arguments(ARG "" "" "DEPS;TEST_DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER srcs EXCLUDE REGEX "_test\\.cc$")
  list(FILTER srcs EXCLUDE REGEX "/testing_.*\\.cc$")
  add_library(sluice_${name} STATIC ${srcs})
  target_include_directories(sluice_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(sluice_${name} PUBLIC ${ARG_DEPS})
  if(SLUICE_BUILD_TESTS)
    file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc
                                      ${CMAKE_CURRENT_SOURCE_DIR}/testing_*.cc)
    if(tests)
      add_executable(${name}_test ${tests})
      target_link_libraries(${name}_test PRIVATE sluice_${name} ${ARG_TEST_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
      target_compile_definitions(${name}_test PRIVATE
        SLUICE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
      include(GoogleTest)
      gtest_discover_tests(${name}_test DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
    endif()
  endif()
endfunction()
