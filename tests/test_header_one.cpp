// test_header_one.cpp — test_header_one.c as C++ (see there).
#include "test_header_one.c"
