# tests/: cmocka unit tests and integration tests against real components.
# Each area keeps its own fragment.
EXTRA_DIST += tests/lib
include $(srcdir)/tests/common.mk
include $(srcdir)/tests/tpm.mk
include $(srcdir)/tests/pkcs11.mk
include $(srcdir)/tests/tls.mk
include $(srcdir)/tests/enroll.mk
include $(srcdir)/tests/tunnel.mk
include $(srcdir)/tests/daemon.mk
