# Checks one compile-fail case. As written, the case must fail to compile
# with exactly one error, and the compiler's output must match the regular
# expression on each of its "// expected: " lines. Compiled with -DCHIME_TWIN,
# the case must compile.
#
#   cmake -DCOMPILER=g++ -DINCLUDE_DIR=include -DCASE=case.cpp -P check_compile_fail.cmake
#
# The expected text follows gcc 12's layout: the static_assert message, and
# the type it is about in the "In instantiation of" note above it.

foreach(variable COMPILER INCLUDE_DIR CASE)
    if(NOT DEFINED ${variable})
        message(FATAL_ERROR "check_compile_fail: -D${variable}=... is missing")
    endif()
endforeach()

# The quotes around names in gcc's notes are ASCII only in the C locale.
set(ENV{LC_ALL} C)
set(flags -std=c++20 -fsyntax-only -DUSE_OS_TZDB=1 -fdiagnostics-color=never
    -fmessage-length=0 -I${INCLUDE_DIR})

# A ';' in a line would split it into two list elements, so it is swapped
# for a placeholder while the file is cut into lines.
file(READ "${CASE}" source)
string(REPLACE ";" "<semicolon>" source "${source}")
string(REGEX MATCHALL "// expected: [^\n]*" expectations "${source}")
if(NOT expectations)
    message(FATAL_ERROR "${CASE}: no \"// expected: \" line")
endif()

execute_process(COMMAND ${COMPILER} ${flags} ${CASE}
    RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(status EQUAL 0)
    message(FATAL_ERROR "${CASE}: compiled, but it must fail to compile")
endif()

string(REGEX MATCHALL "error: " errors "${output}")
list(LENGTH errors error_count)
if(NOT error_count EQUAL 1)
    message(FATAL_ERROR "${CASE}: ${error_count} errors, expected exactly one:\n${output}")
endif()

foreach(line IN LISTS expectations)
    string(REGEX REPLACE "^// expected: " "" pattern "${line}")
    string(REPLACE "<semicolon>" ";" pattern "${pattern}")
    if(NOT output MATCHES "${pattern}")
        message(FATAL_ERROR "${CASE}: the output does not match\n  ${pattern}\n\n${output}")
    endif()
endforeach()

execute_process(COMMAND ${COMPILER} ${flags} -DCHIME_TWIN ${CASE}
    RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(NOT status EQUAL 0)
    message(FATAL_ERROR "${CASE}: the twin (-DCHIME_TWIN) must compile, but failed:\n${output}")
endif()
