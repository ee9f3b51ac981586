# agent/: the keyward binary (CLI, config, daemon, tunnels, renewal).
bin_PROGRAMS += agent/keyward
agent_keyward_SOURCES = \
	agent/main.c agent/cli.h \
	agent/keyref.c agent/keyref.h \
	agent/pin.c agent/pin.h \
	agent/cmd_keygen.c \
	agent/cmd_csr.c \
	agent/cmd_connect.c \
	agent/cmd_tokens.c \
	agent/cmd_tunnel.c \
	agent/cmd_run.c \
	agent/cmd_status.c \
	agent/cmd_enroll.c \
	agent/identity.c agent/identity.h agent/identity_enroll.c \
	agent/identity_conf.c agent/identity_runner.c \
	agent/renew.c agent/renew.h \
	agent/config.c agent/config.h \
	agent/tunnel.c agent/tunnel_gen.c agent/tunnel.h agent/tunnel_int.h \
	agent/daemon.c agent/daemon_status.c agent/daemon.h agent/daemon_int.h \
	agent/control.c agent/control.h agent/metrics.c agent/metrics.h
agent_keyward_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(INIH_CFLAGS) $(SYSTEMD_CFLAGS) $(JANSSON_CFLAGS)
agent_keyward_LDADD = $(KW_ENROLL_LIBS) $(KW_TPM_LIBS) $(KW_P11_LIBS) \
	$(KW_COMMON_LIBS) $(LIBEVENT_LIBS) $(INIH_LIBS) $(SYSTEMD_LIBS) \
	$(JANSSON_LIBS) $(LIBS)

# Man pages and the systemd unit (issue 4).
dist_man_MANS += man/keyward.1 man/keyward.conf.5
EXTRA_DIST += systemd/keyward.service
