/* The signer protocol's codec and frame I/O (see kw_signer.h).  Pure: no
 * key, no global; the fuzz harness (tests/fuzz/fuzz_signer.c) and the
 * unit tests (tests/unit/test_signer.c) drive it directly. */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kw_cancel.h"
#include "kw_error.h"
#include "kw_signer.h"

static void
kw_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
kw_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int
kw_sgn_str_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f)
			return 0;
	}
	return 1;
}

static int
kw_in(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v >= lo && v <= hi;
}

/* What each op may carry; 1 when m is acceptable. */
static int
kw_sgn_check_request(const struct kw_sgn_msg *m)
{
	int noref = m->str_len == 0, ref = m->str_len > 0 &&
	    m->handle == 0 && m->a == 0 && m->b == 0 && m->c == 0;
	int bare = m->handle != 0 && m->a == 0 && m->b == 0 && m->c == 0 &&
	    noref && m->data_len == 0;

	if (m->status != 0)
		return 0;
	switch (m->op) {
	case KW_SGN_OP_LIST:
		return m->handle == 0 && m->b == 0 && m->c == 0 && noref &&
		    m->data_len == 0;
	case KW_SGN_OP_OPEN:
	case KW_SGN_OP_EXISTS:
	case KW_SGN_OP_DELETE:
	case KW_SGN_OP_CERT_LOAD:
		return ref && m->data_len == 0;
	case KW_SGN_OP_PUBKEY:
	case KW_SGN_OP_DESCRIBE:
	case KW_SGN_OP_PRESENT:
		return bare;
	case KW_SGN_OP_SIGN:
		return m->handle != 0 &&
		    kw_in(m->a, KW_SIG_ECDSA, KW_SIG_RSA_PSS) &&
		    kw_in(m->b, KW_HASH_SHA256, KW_HASH_SHA512) &&
		    m->c <= KW_PURPOSE_MAX && m->str_len <= 256 &&
		    kw_in((uint32_t)m->data_len, 1, KW_MAX_DIGEST);
	case KW_SGN_OP_DECRYPT:
		return m->handle != 0 && m->a == 0 && m->b == 0 &&
		    m->c == 0 && noref &&
		    kw_in((uint32_t)m->data_len, 1, KW_MAX_SIG);
	case KW_SGN_OP_GENERATE:
		return m->str_len > 0 && m->handle == 0 && m->c == 0 &&
		    kw_in(m->a, KW_ALG_EC_P256, KW_ALG_RSA3072) &&
		    (m->b & ~(KW_USAGE_SIGN | KW_USAGE_DECRYPT)) == 0 &&
		    m->data_len == 0;
	case KW_SGN_OP_STORE_CERT:
		return ref && kw_in((uint32_t)m->data_len, 1,
		    KW_SGN_MAX_DATA);
	case KW_SGN_OP_POSTURE_EV:
		return m->handle != 0 && m->a == 0 && m->b == 0 &&
		    m->c == 0 && noref && m->data_len == 32;
	case KW_SGN_OP_POSTURE_ACT:
		return m->handle != 0 && m->b == 0 && m->c == 0 && noref &&
		    m->a >= 2 && m->data_len >= 4 &&
		    m->a <= m->data_len - 2 && m->data_len <= 4096;
	default:
		return 0;
	}
}

static int
kw_sgn_check_reply(const struct kw_sgn_msg *m)
{
	unsigned op = m->op & ~KW_SGN_REPLY;
	int nodata = m->handle == 0 && m->a == 0 && m->b == 0 && m->c == 0;
	int empty = nodata && m->str_len == 0 && m->data_len == 0;

	if ((m->op & KW_SGN_REPLY) == 0 || op < KW_SGN_OP_LIST ||
	    op > KW_SGN_OP_MAX)
		return 0;
	if (m->status > 0 || m->status < -1000)
		return 0;
	if (m->status != 0)	/* an error: its message at most */
		return nodata && m->data_len == 0 &&
		    m->str_len <= KW_SGN_MAX_WHY;
	switch (op) {
	case KW_SGN_OP_LIST:
		return nodata && m->str_len > 0 && m->data_len == 0;
	case KW_SGN_OP_OPEN:
	case KW_SGN_OP_GENERATE:
		return m->handle != 0 &&
		    kw_in(m->a, KW_ALG_EC_P256, KW_ALG_RSA3072) &&
		    (m->c & ~(KW_SGN_F_PRESENT | KW_SGN_F_DECRYPT)) == 0 &&
		    m->str_len <= 512 &&
		    kw_in((uint32_t)m->data_len, 1, KW_MAX_PUBKEY_DER);
	case KW_SGN_OP_PUBKEY:
		return nodata && m->str_len == 0 &&
		    kw_in((uint32_t)m->data_len, 1, KW_MAX_PUBKEY_DER);
	case KW_SGN_OP_DESCRIBE:
		return nodata && m->str_len <= 512 && m->data_len == 0;
	case KW_SGN_OP_SIGN:
		return nodata && m->str_len == 0 &&
		    kw_in((uint32_t)m->data_len, 1, KW_MAX_SIG);
	case KW_SGN_OP_DECRYPT:
		return nodata && m->str_len == 0 && m->data_len <= KW_MAX_SIG;
	case KW_SGN_OP_EXISTS:
		return m->handle == 0 && m->a <= 1 && m->b == 0 &&
		    m->c == 0 && m->str_len == 0 && m->data_len == 0;
	case KW_SGN_OP_CERT_LOAD:
		return nodata && m->str_len == 0 &&
		    kw_in((uint32_t)m->data_len, 1, KW_SGN_MAX_DATA);
	case KW_SGN_OP_POSTURE_EV:
		return m->handle == 0 && m->b == 0 && m->c == 0 &&
		    m->str_len == 0 &&
		    kw_in((uint32_t)m->data_len, 1, KW_SGN_MAX_DATA);
	case KW_SGN_OP_POSTURE_ACT:
		return m->handle == 0 && m->b == 0 && m->c == 0 &&
		    m->str_len == 0 && kw_in((uint32_t)m->data_len, 1, 64);
	default:	/* PRESENT, DELETE, STORE_CERT */
		return empty;
	}
}

static int
kw_sgn_check(const struct kw_sgn_msg *m, int reply)
{
	if (m->str_len > KW_SGN_MAX_STR || m->data_len > KW_SGN_MAX_DATA ||
	    (m->str_len > 0 && m->str == NULL) ||
	    (m->data_len > 0 && m->data == NULL) ||
	    !kw_sgn_str_ok(m->str, m->str_len))
		return 0;
	return reply ? kw_sgn_check_reply(m) : kw_sgn_check_request(m);
}

int
kw_sgn_encode(const struct kw_sgn_msg *m, uint8_t *buf, size_t cap,
    size_t *len)
{
	size_t n;
	uint8_t *p;

	*len = 0;
	if (!kw_sgn_check(m, (m->op & KW_SGN_REPLY) != 0))
		return KW_ERR_ARG;
	n = 4 + KW_SGN_HDR + 2 + m->str_len + 2 + m->data_len;
	if (n > cap)
		return KW_ERR_SPACE;
	p = buf;
	kw_put32(p, (uint32_t)(n - 4));
	p += 4;
	*p++ = m->op;
	kw_put32(p, (uint32_t)m->status);
	kw_put32(p + 4, m->handle);
	kw_put32(p + 8, m->a);
	kw_put32(p + 12, m->b);
	kw_put32(p + 16, m->c);
	p += 20;
	*p++ = (uint8_t)(m->str_len >> 8);
	*p++ = (uint8_t)m->str_len;
	if (m->str_len > 0)
		memcpy(p, m->str, m->str_len);
	p += m->str_len;
	*p++ = (uint8_t)(m->data_len >> 8);
	*p++ = (uint8_t)m->data_len;
	if (m->data_len > 0)
		memcpy(p, m->data, m->data_len);
	*len = n;
	return KW_OK;
}

int
kw_sgn_decode(const uint8_t *body, size_t len, int reply,
    struct kw_sgn_msg *m)
{
	size_t off;

	memset(m, 0, sizeof(*m));
	if (body == NULL || len < KW_SGN_HDR + 4 || len > KW_SGN_MAX_FRAME)
		return KW_ERR_PROTOCOL;
	m->op = body[0];
	m->status = (int32_t)kw_get32(body + 1);
	m->handle = kw_get32(body + 5);
	m->a = kw_get32(body + 9);
	m->b = kw_get32(body + 13);
	m->c = kw_get32(body + 17);
	off = KW_SGN_HDR;
	m->str_len = (size_t)body[off] << 8 | body[off + 1];
	off += 2;
	if (m->str_len > len - off - 2)
		goto bad;
	m->str = m->str_len > 0 ? (const char *)body + off : NULL;
	off += m->str_len;
	m->data_len = (size_t)body[off] << 8 | body[off + 1];
	off += 2;
	if (m->data_len != len - off)
		goto bad;
	m->data = m->data_len > 0 ? body + off : NULL;
	if (!kw_sgn_check(m, reply))
		goto bad;
	return KW_OK;
bad:
	memset(m, 0, sizeof(*m));
	return KW_ERR_PROTOCOL;
}

const char *
kw_sgn_op_name(unsigned op)
{
	static const char *const names[] = { "?", "list", "open", "pubkey",
	    "describe", "sign", "decrypt", "present", "generate", "exists",
	    "delete", "store-cert", "cert-load", "posture-evidence",
	    "posture-activate" };

	op &= ~KW_SGN_REPLY;
	return op <= KW_SGN_OP_MAX ? names[op] : "?";
}

const char *
kw_sgn_purpose_name(unsigned purpose)
{
	static const char *const names[] = { "unknown", "handshake", "CSR",
	    "JWS", "SCEP" };

	return purpose <= KW_PURPOSE_MAX ? names[purpose] : "unknown";
}

uint32_t
kw_sgn_scheme_bit(enum kw_sig_scheme scheme, enum kw_hash hash)
{
	if (scheme < KW_SIG_ECDSA || scheme > KW_SIG_RSA_PSS ||
	    hash < KW_HASH_SHA256 || hash > KW_HASH_SHA512)
		return 0;
	return 1u << ((unsigned)(scheme - 1) * 4 + (unsigned)hash);
}

int
kw_sgn_write_frame(int fd, const uint8_t *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return KW_ERR_IO;
		off += (size_t)n;
	}
	return KW_OK;
}

/* What is waiting is taken at once; poll() only when nothing is: a
 * reply that is already there costs one recv, not a poll and a recv. */
static int
kw_sgn_read_full(int fd, uint8_t *buf, size_t len, int timeout_ms)
{
	struct pollfd pfd;
	size_t off = 0;
	ssize_t n;
	int r;

	while (off < len) {
		n = recv(fd, buf + off, len - off, MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == 0)
			return KW_ERR_IO;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return KW_ERR_IO;
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		r = poll(&pfd, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return KW_ERR_IO;
		if (r == 0)
			return KW_ERR_TIMEOUT;
	}
	return KW_OK;
}

int
kw_sgn_spin_readable(int fd, unsigned spin_us)
{
	uint64_t end = kw_now_usec() + spin_us;
	uint8_t c;
	ssize_t n;

	do {
		n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR))
			return 1;	/* data, end of stream or an error */
		(void)sched_yield();
	} while (kw_now_usec() < end);
	return 0;
}

int
kw_sgn_read_frame(int fd, uint8_t *buf, size_t cap, int timeout_ms,
    size_t *len)
{
	uint8_t hdr[4];
	uint32_t n;
	int r;

	*len = 0;
	if ((r = kw_sgn_read_full(fd, hdr, 4, timeout_ms)) != KW_OK)
		return r;
	n = kw_get32(hdr);
	if (n < KW_SGN_HDR + 4 || n > KW_SGN_MAX_FRAME || n > cap)
		return KW_ERR_PROTOCOL;
	/* the rest of a frame follows at once: a short wait only */
	if ((r = kw_sgn_read_full(fd, buf, n, timeout_ms < 0 ? 10000 :
	    timeout_ms)) != KW_OK)
		return r == KW_ERR_TIMEOUT ? KW_ERR_PROTOCOL : r;
	*len = n;
	return KW_OK;
}

/* The control message buffer for one descriptor, aligned for cmsghdr. */
union kw_sgn_fdbuf {
	struct cmsghdr h;
	char buf[CMSG_SPACE(sizeof(int))];
};

static void
kw_sgn_fdmsg(struct msghdr *mh, struct iovec *iov, char *b,
    union kw_sgn_fdbuf *cm)
{
	memset(mh, 0, sizeof(*mh));
	memset(cm, 0, sizeof(*cm));
	iov->iov_base = b;
	iov->iov_len = 1;
	mh->msg_iov = iov;
	mh->msg_iovlen = 1;
	mh->msg_control = cm->buf;
	mh->msg_controllen = sizeof(cm->buf);
}

int
kw_sgn_send_fd(int sock, int fd)
{
	union kw_sgn_fdbuf cm;
	struct msghdr mh;
	struct cmsghdr *c;
	struct iovec iov;
	char b = 'F';

	kw_sgn_fdmsg(&mh, &iov, &b, &cm);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == 1 ? KW_OK : KW_ERR_IO;
}

int
kw_sgn_recv_fd(int sock, int flags, int *fd)
{
	union kw_sgn_fdbuf cm;
	struct msghdr mh;
	struct cmsghdr *c;
	struct iovec iov;
	ssize_t n;
	char b;

	do {
		kw_sgn_fdmsg(&mh, &iov, &b, &cm);
		n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		return KW_ERR_IO;
	c = CMSG_FIRSTHDR(&mh);
	if (c == NULL || c->cmsg_level != SOL_SOCKET ||
	    c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		return KW_ERR_PROTOCOL;
	memcpy(fd, CMSG_DATA(c), sizeof(*fd));
	return KW_OK;
}
