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
	agent/cmd_enroll.c
agent_keyward_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(INIH_CFLAGS) $(SYSTEMD_CFLAGS) $(JANSSON_CFLAGS)
agent_keyward_LDADD = $(KW_ENROLL_LIBS) $(KW_TPM_LIBS) $(KW_P11_LIBS) \
	$(KW_COMMON_LIBS) $(LIBEVENT_LIBS) $(INIH_LIBS) $(SYSTEMD_LIBS) \
	$(JANSSON_LIBS) $(LIBS)
