/* Facts about the running OS that the TPM does not measure: the kernel
 * release, the OS name, whether / sits on a dm-crypt device.  Reported
 * apart from the event log's claims and always marked unattested: a
 * compromised OS can say anything here. */
#ifndef KW_ATTEST_OSFACTS_H
#define KW_ATTEST_OSFACTS_H

struct kw_os_facts {
	char kernel[128];	/* uname -r */
	char os[256];		/* os-release PRETTY_NAME, "" if none */
	int disk_encrypted;	/* 1 yes, 0 no, -1 unknown (see disk_note) */
	char root_source[256];	/* the device / is mounted from */
	char disk_note[160];	/* how it was decided, or why unknown */
};

/* Gather the facts.  root is "" (or NULL) for this system, else a
 * directory standing in for / (tests): os-release, proc/self/mountinfo
 * and sys/ are read below it; the kernel release always comes from
 * uname(2).  Never fails: a fact that cannot be found is left empty or
 * unknown. */
void kw_os_facts_collect(const char *root, struct kw_os_facts *out);

#endif
