# tests for enroll: add cmocka programs to check_PROGRAMS and TESTS, scripts to TESTS
