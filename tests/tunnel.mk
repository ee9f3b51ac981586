# tests for tunnel: add cmocka programs to check_PROGRAMS and TESTS, scripts to TESTS
