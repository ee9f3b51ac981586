/* The comparison behind kw_wolf_selfcheck(): what keyward was compiled
 * against versus what the wolfSSL library it runs with shows at run time.
 *
 * Debian's libwolfssl and a private build (scripts/build-wolfssl) carry the
 * same version and soname but different struct layouts (USE_INTEL_SPEEDUP
 * grows ChaChaPoly_Aead from 184 to 784 bytes), so the version alone cannot
 * tell them apart: the run-time side also measures the library's own
 * ChaCha20-Poly1305 state size and runs known-answer tests. */
#ifndef KW_WOLF_CHECK_H
#define KW_WOLF_CHECK_H

#include <stddef.h>

/* One side of the comparison. */
struct kw_wolf_facts {
	const char *version;		/* "5.5.4" */
	unsigned long version_hex;	/* 0x05005004 */
	int aesni;			/* AES-NI code: 1 yes, 0 no, -1 unknown */
	int intelasm;			/* Intel asm (USE_INTEL_SPEEDUP): 1, 0, -1 */
	size_t aead_size;		/* sizeof(ChaChaPoly_Aead); 0 unknown */
	int kat_ok;			/* known-answer tests: 1 passed, 0 failed */
};

/* Fill *out with what the headers keyward was compiled with say. */
void kw_wolf_facts_built(struct kw_wolf_facts *out);

/* Probe the library keyward runs with: version, the size it gives
 * ChaChaPoly_Aead (measured inside a guarded buffer, so a larger library
 * struct cannot corrupt memory), AES-NI use, AES-GCM and ChaCha20-Poly1305
 * known-answer tests.  Returns KW_OK or KW_ERR_NOMEM. */
int kw_wolf_facts_running(struct kw_wolf_facts *out);

/* Write "wolfSSL 5.5.4 (AES-NI yes, Intel asm yes, ChaCha20-Poly1305
 * state 784 bytes)" into buf. */
void kw_wolf_facts_describe(const struct kw_wolf_facts *f, char *buf,
    size_t len);

/* KW_OK when the running library matches the build; otherwise KW_ERR_TLS
 * and a one-line explanation of what differs and what to do in why. */
int kw_wolf_check_compare(const struct kw_wolf_facts *built,
    const struct kw_wolf_facts *running, char *why, size_t why_len);

/* The version of Debian's wolfssl source package installed on this machine,
 * read from a dpkg status file (/var/lib/dpkg/status): the Version (or the
 * version in "Source: wolfssl (V)") of an installed package built from
 * wolfssl.  KW_OK, or KW_ERR_NOT_FOUND when none is installed or the file
 * cannot be read. */
int kw_wolf_debian_version(const char *status_path, char *out, size_t len);

/* A private build (KW_WOLFSSL_SOURCE_VERSION) older or newer than what
 * Debian has installed since: 1 stale (and a warning text in why), 0 fine or
 * unknown.  built_version NULL (the Debian-package build) is never stale. */
int kw_wolf_private_stale(const char *built_version, const char *prefix,
    const char *status_path, char *why, size_t why_len);

#endif
