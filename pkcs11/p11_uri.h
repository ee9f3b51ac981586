/* RFC 7512 PKCS#11 URIs: a strict parser, matching helpers and a writer.
 *
 * The parser needs no module and keeps no state besides what it returns,
 * so it can be fuzzed and unit-tested on its own (tests/unit/test_p11_uri.c).
 * Path attributes (';'-separated) name the library, slot, token and object;
 * query attributes ('&'-separated, after '?') say how to reach them
 * (module-path, module-name, pin-source, pin-value).  Values are
 * percent-decoded; an unknown path attribute is an error (ignoring it could
 * select the wrong key), an unknown query attribute is an error unless it is
 * vendor-specific ("x-..."). */
#ifndef P11_URI_H
#define P11_URI_H

#include <stddef.h>
#include <stdint.h>

/* Object classes a URI's type= may name (values are CKO_*; -1 = absent). */
#define P11_URI_TYPE_NONE	(-1L)

struct p11_uri {
	/* library-* (matched against C_GetInfo) */
	char *lib_manufacturer;
	char *lib_description;
	int lib_ver_major, lib_ver_minor;	/* -1: absent */
	/* slot-* */
	char *slot_description;
	char *slot_manufacturer;
	int has_slot_id;
	unsigned long slot_id;
	/* token */
	char *token;
	char *manufacturer;
	char *model;
	char *serial;
	/* object */
	char *object;			/* CKA_LABEL */
	uint8_t *id;			/* CKA_ID (may contain any byte) */
	size_t id_len;
	int has_id;
	long type;			/* CKO_*, or P11_URI_TYPE_NONE */
	/* query */
	char *module_path;
	char *module_name;
	char *pin_source;		/* as written (file:PATH or PATH) */
	char *pin_value;		/* wiped on free */
};

/* Parse uri (must start with "pkcs11:").  On failure *out is NULL, the
 * return value is KW_ERR_PARSE and errbuf (if not NULL) holds one line
 * naming the attribute and what is wrong. */
int p11_uri_parse(const char *uri, struct p11_uri **out, char *errbuf,
    size_t errlen);
void p11_uri_free(struct p11_uri *u);

/* The file a pin-source names: "file:PATH", "file://PATH" or a plain PATH.
 * KW_ERR_UNSUPPORTED (with *path NULL) for other schemes ("|cmd", http:). */
int p11_uri_pin_file(const struct p11_uri *u, const char **path,
    char *errbuf, size_t errlen);

/* Does the blank-padded field (as in CK_TOKEN_INFO) equal want?
 * want NULL matches everything. */
int p11_uri_field_eq(const char *want, const unsigned char *field,
    size_t field_len);

/* Append "name=value" with RFC 7512 percent-encoding to buf at *used
 * (with a leading ';' unless *used ends with ':').  Returns KW_ERR_SPACE
 * when buf is too small. */
int p11_uri_append(char *buf, size_t len, size_t *used, const char *name,
    const uint8_t *value, size_t value_len, int encode_all);

/* Copy a blank-padded PKCS#11 string field into out (NUL-terminated,
 * trailing blanks and NULs removed).  out must hold field_len + 1. */
void p11_uri_unpad(char *out, const unsigned char *field, size_t field_len);

#endif
