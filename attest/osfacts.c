/* Unattested OS facts (see osfacts.h). */
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/osfacts.h"

#define KW_OSF_MAX_DEPTH	8	/* dm stacked on dm ... */
#define KW_OSF_MAX_LINES	10000

/* Printable ASCII only: the facts end up in terminals and JSON. */
static void
kw_osf_clean(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

static void
kw_osf_path(char *buf, size_t len, const char *root, const char *path)
{
	snprintf(buf, len, "%s%s", root, path);
}

/* The first line of a small file, newline stripped; 0 on success. */
static int
kw_osf_line(const char *path, char *buf, size_t len)
{
	FILE *f;
	int r = -1;

	buf[0] = '\0';
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	if (fgets(buf, (int)len, f) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		r = 0;
	}
	fclose(f);
	return r;
}

/* os-release's PRETTY_NAME (shell-style quoting, the common escapes). */
static void
kw_osf_release(const char *root, char *out, size_t outlen)
{
	static const char *const files[] = { "/etc/os-release",
		"/usr/lib/os-release" };
	char path[4096], line[1024], *v, q;
	size_t i, n;
	FILE *f = NULL;

	out[0] = '\0';
	for (i = 0; i < 2 && f == NULL; i++) {
		kw_osf_path(path, sizeof(path), root, files[i]);
		f = fopen(path, "re");
	}
	if (f == NULL)
		return;
	for (i = 0; i < KW_OSF_MAX_LINES &&
	    fgets(line, sizeof(line), f) != NULL; i++) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "PRETTY_NAME=", 12) != 0)
			continue;
		v = line + 12;
		q = (*v == '"' || *v == '\'') ? *v++ : '\0';
		for (n = 0; *v != '\0' && *v != q && n + 1 < outlen; v++) {
			if (*v == '\\' && q == '"' && v[1] != '\0')
				v++;
			out[n++] = *v;
		}
		out[n] = '\0';
	}
	fclose(f);
	kw_osf_clean(out);
}

/* 1 when the block device at dir (a sysfs device directory) or one of
 * the devices it is stacked on is dm-crypt, 0 when none is, -1 when dir
 * cannot be read. */
static int
kw_osf_crypt(const char *root, const char *dir, int depth, char *which,
    size_t which_len)
{
	char path[4096], uuid[256], name[256];
	struct dirent *de;
	DIR *d;
	int r = 0, s;

	snprintf(path, sizeof(path), "%s/dm/uuid", dir);
	if (kw_osf_line(path, uuid, sizeof(uuid)) == 0 &&
	    strncmp(uuid, "CRYPT-", 6) == 0) {
		snprintf(path, sizeof(path), "%s/dm/name", dir);
		if (kw_osf_line(path, name, sizeof(name)) != 0)
			snprintf(name, sizeof(name), "?");
		kw_osf_clean(name);
		snprintf(which, which_len, "dm-crypt device %.100s (%.20s)", name,
		    uuid);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/slaves", dir);
	if ((d = opendir(path)) == NULL) {
		snprintf(path, sizeof(path), "%s/dev", dir);
		return kw_osf_line(path, uuid, sizeof(uuid)) == 0 ? 0 : -1;
	}
	while (r != 1 && depth < KW_OSF_MAX_DEPTH &&
	    (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/sys/class/block/%s", root,
		    de->d_name);
		s = kw_osf_crypt(root, path, depth + 1, which, which_len);
		if (s == 1 || (s < 0 && r == 0))
			r = s;
	}
	closedir(d);
	return r;
}

/* The mount of / (the last one listed wins: it is on top). */
static void
kw_osf_disk(const char *root, struct kw_os_facts *f)
{
	char path[4096], line[4096], mp[1024], src[1024], fstype[64];
	char rsrc[1024], rfstype[64], *dash;
	unsigned maj = 0, min = 0, rmaj = 0, rmin = 0, i;
	struct stat st;
	int found = 0, r;
	FILE *mi;

	f->disk_encrypted = -1;
	kw_osf_path(path, sizeof(path), root, "/proc/self/mountinfo");
	if ((mi = fopen(path, "re")) == NULL) {
		snprintf(f->disk_note, sizeof(f->disk_note), "cannot read "
		    "/proc/self/mountinfo");
		return;
	}
	for (i = 0; i < KW_OSF_MAX_LINES &&
	    fgets(line, sizeof(line), mi) != NULL; i++) {
		if ((dash = strstr(line, " - ")) == NULL ||
		    sscanf(line, "%*u %*u %u:%u %*s %1023s", &maj, &min,
		    mp) != 3 || strcmp(mp, "/") != 0 ||
		    sscanf(dash, " - %63s %1023s", fstype, src) != 2)
			continue;
		rmaj = maj;
		rmin = min;
		snprintf(rsrc, sizeof(rsrc), "%s", src);
		snprintf(rfstype, sizeof(rfstype), "%s", fstype);
		found = 1;
	}
	fclose(mi);
	if (!found) {
		snprintf(f->disk_note, sizeof(f->disk_note), "no mount of / "
		    "in /proc/self/mountinfo");
		return;
	}
	kw_osf_clean(rsrc);
	kw_osf_clean(rfstype);
	/* btrfs, overlay and the like show an anonymous device: ask the
	 * source's node instead. */
	if (rmaj == 0) {
		kw_osf_path(path, sizeof(path), root, rsrc);
		if (rsrc[0] == '/' && stat(path, &st) == 0 &&
		    S_ISBLK(st.st_mode)) {
			rmaj = major(st.st_rdev);
			rmin = minor(st.st_rdev);
		} else {
			snprintf(f->root_source, sizeof(f->root_source), "%.200s",
			    rsrc);
			snprintf(f->disk_note, sizeof(f->disk_note), "/ is %s "
			    "from %.60s, not a block device", rfstype, rsrc);
			return;
		}
	}
	snprintf(f->root_source, sizeof(f->root_source), "%.200s (%u:%u)", rsrc,
	    rmaj, rmin);
	snprintf(path, sizeof(path), "%s/sys/dev/block/%u:%u", root, rmaj,
	    rmin);
	r = kw_osf_crypt(root, path, 0, f->disk_note, sizeof(f->disk_note));
	f->disk_encrypted = r;
	if (r == 0)
		snprintf(f->disk_note, sizeof(f->disk_note), "no dm-crypt "
		    "device under /");
	else if (r < 0)
		snprintf(f->disk_note, sizeof(f->disk_note), "cannot read "
		    "/sys/dev/block/%u:%u", rmaj, rmin);
}

void
kw_os_facts_collect(const char *root, struct kw_os_facts *out)
{
	struct utsname u;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		root = "";
	if (uname(&u) == 0) {
		snprintf(out->kernel, sizeof(out->kernel), "%s", u.release);
		kw_osf_clean(out->kernel);
	}
	kw_osf_release(root, out->os, sizeof(out->os));
	kw_osf_disk(root, out);
}
