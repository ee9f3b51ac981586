# agent/: the keyward binary, in rooms by job.  Lower rooms never include
# higher ones:  keys  <-  identity  <-  conf  <-  signer, tunnel  <-  daemon  <-  cli
#   keys/      key references (tpm:, pkcs11:) and PIN entry
#   identity/  identity state files, enrollment, renewal ([identity] sections)
#   conf/      the daemon's config file (keyward.conf(5))
#   signer/    keyward run's signer process, its supervisor and seccomp
#   tunnel/    the mTLS tunnel engine (libevent + wolfSSL)
#   daemon/    keyward run: the loop, reload, control socket, status, metrics
#   cli/       main() and one cmd_*.c per subcommand
# Each room's README.md says what it owns and what it may include.
EXTRA_DIST += agent/keys/README.md agent/identity/README.md \
	agent/conf/README.md agent/signer/README.md agent/tunnel/README.md agent/daemon/README.md \
	agent/cli/README.md

bin_PROGRAMS += agent/keyward
KW_AGENT_KEYS_SRC = agent/keys/keyref.c agent/keys/keyref.h \
	agent/keys/pin.c agent/keys/pin.h \
	agent/keys/posture_tpm.c agent/keys/posture_tpm.h
KW_AGENT_IDENTITY_SRC = agent/identity/identity.c agent/identity/identity.h \
	agent/identity/identity_enroll.c agent/identity/identity_acme.c \
	agent/identity/identity_scep.c \
	agent/identity/identity_conf.c \
	agent/identity/identity_runner.c \
	agent/identity/renew.c agent/identity/renew.h
KW_AGENT_CONF_SRC = agent/conf/config.c agent/conf/config.h
KW_AGENT_SIGNER_SRC = agent/signer/signer.c agent/signer/signer.h \
	agent/signer/supervise.c agent/signer/sandbox.c \
	agent/signer/landlock.c agent/signer/landlock.h
KW_AGENT_TUNNEL_SRC = agent/tunnel/tunnel.c agent/tunnel/tunnel_pool.c \
	agent/tunnel/tunnel_conn.c agent/tunnel/tunnel_admit.c agent/tunnel/tunnel_hs.c \
	agent/tunnel/tunnel_relay.c agent/tunnel/tunnel_core.c agent/tunnel/tunnel_core.h \
	agent/tunnel/tunnel_gen.c agent/tunnel/tunnel.h agent/tunnel/tunnel_int.h \
	agent/tunnel/tunnel_hello.c agent/tunnel/tunnel_hello.h \
	agent/tunnel/tunnel_posture.c agent/tunnel/tunnel_posture.h \
	agent/tunnel/tunnel_posture_ops.c agent/tunnel/tunnel_posture_conn.c
KW_AGENT_DAEMON_SRC = agent/daemon/daemon.c agent/daemon/daemon_status.c \
	agent/daemon/daemon.h agent/daemon/daemon_int.h \
	agent/daemon/control.c agent/daemon/control.h \
	agent/daemon/metrics.c agent/daemon/metrics.h \
	agent/daemon/workers.c agent/daemon/workers.h
KW_AGENT_CLI_SRC = agent/cli/cli.h agent/cli/cli.c \
	agent/cli/cmd_keygen.c agent/cli/cmd_csr.c agent/cli/cmd_connect.c \
	agent/cli/cmd_tokens.c agent/cli/cmd_tunnel.c agent/cli/cmd_run.c \
	agent/cli/cmd_status.c agent/cli/cmd_enroll.c \
	agent/cli/cmd_enroll_acme.c agent/cli/cmd_enroll_scep.c \
	agent/cli/cmd_verify_attestation.c agent/cli/cmd_attest.c \
	agent/cli/cmd_posture.c
# Everything but main() and the test hooks is built once, into a library
# that both binaries link: the installed agent/keyward (no test hooks) and
# the check-only agent/keyward-test (-DKW_TEST_HOOKS: crash points for the
# crash tests), so no test hook ever reaches the product.
noinst_LIBRARIES += agent/libkwagent.a
agent_libkwagent_a_SOURCES = $(KW_AGENT_KEYS_SRC) $(KW_AGENT_IDENTITY_SRC) \
	$(KW_AGENT_CONF_SRC) $(KW_AGENT_SIGNER_SRC) $(KW_AGENT_TUNNEL_SRC) $(KW_AGENT_DAEMON_SRC) \
	$(KW_AGENT_CLI_SRC)
KW_AGENT_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(INIH_CFLAGS) $(SYSTEMD_CFLAGS) $(JANSSON_CFLAGS) $(CBOR_CFLAGS) \
	$(SECCOMP_CFLAGS)
KW_AGENT_LDADD = agent/libkwagent.a $(KW_ATTEST_LIBS) $(KW_ENROLL_LIBS) \
	$(KW_TPM_LIBS) \
	$(KW_P11_LIBS) $(KW_COMMON_LIBS) $(LIBEVENT_LIBS) $(INIH_LIBS) \
	$(SYSTEMD_LIBS) $(JANSSON_LIBS) $(SECCOMP_LIBS) $(LIBS)
agent_libkwagent_a_CFLAGS = $(KW_AGENT_CFLAGS)
agent_keyward_SOURCES = agent/cli/main.c agent/identity/test_hooks.c \
	agent/tunnel/posture_test_ops.c
agent_keyward_CFLAGS = $(KW_AGENT_CFLAGS)
agent_keyward_LDADD = $(KW_AGENT_LDADD)
check_PROGRAMS += agent/keyward-test
agent_keyward_test_SOURCES = $(agent_keyward_SOURCES)
agent_keyward_test_CFLAGS = $(KW_AGENT_CFLAGS) -DKW_TEST_HOOKS
agent_keyward_test_LDADD = $(KW_AGENT_LDADD)

# Man pages (issue 4); the unit is in systemd/local.mk.
dist_man_MANS += man/keyward.1 man/keyward.conf.5 man/keyward-posture.7
