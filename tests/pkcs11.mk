# tests for pkcs11: add cmocka programs to check_PROGRAMS and TESTS, scripts to TESTS
