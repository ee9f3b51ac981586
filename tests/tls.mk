# tests for tls: add cmocka programs to check_PROGRAMS and TESTS, scripts to TESTS
