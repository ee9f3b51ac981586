/* Seccomp filters for `keyward run`'s two processes (libseccomp).
 *
 * The network process gets an allow-list: what libevent, wolfSSL,
 * threads, the control socket, sd_notify, reloads and renewal use.
 * Everything else fails with EPERM (not a kill: an unexpected call in a
 * rare path fails like a denied file, and the log says so).  There is no
 * exec, ptrace, process_vm_*, mount, module, bpf, keyctl, unshare,
 * setns, personality, chroot or set*id in it.  Files: seccomp cannot see
 * paths, so open/openat stay allowed here and Landlock (landlock.c) limits
 * where the process writes; what it cannot do is start a program, attach
 * to one, or reach a key: it has no token handle, no PIN, no module
 * mapped.  The filter is synchronized to every thread (TSYNC).
 *
 * The signer keeps everything (PKCS#11 modules do what they like, a PIN
 * may come from systemd-ask-password) but may not listen, accept, or
 * make sockets other than AF_UNIX and netlink; AF_INET/AF_INET6 only when
 * a TCTI reaches a TPM simulator over TCP (swtpm:, mssim:). */
#include <errno.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/socket.h>

#include "kw_error.h"
#include "kw_log.h"
#include "agent/signer/signer.h"

/* ASan's leak check needs ptrace (sanitizer builds are for tests only). */
#if defined(__SANITIZE_ADDRESS__)
#define KW_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KW_SANITIZED 1
#endif
#endif
#ifndef KW_SANITIZED
#define KW_SANITIZED 0
#endif

static const char *const kw_net_allow[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64", "close",
	"open", "openat", "stat", "fstat", "lstat", "newfstatat", "statx",
	"lseek", "mmap", "munmap", "mprotect", "mremap", "madvise", "brk",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"ioctl", "access", "faccessat", "faccessat2", "pipe", "pipe2", "dup",
	"dup2", "dup3", "fcntl", "flock", "fsync", "fdatasync", "ftruncate",
	"rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir",
	"mkdirat", "chmod", "fchmod", "fchmodat", "fchown", "getdents",
	"getdents64",
	"getcwd", "readlink", "readlinkat", "umask", "utimensat", "fadvise64",
	"statfs", "fstatfs",
	"socket", "socketpair", "connect", "accept", "accept4", "bind",
	"listen", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg",
	"recvmmsg", "shutdown", "getsockname", "getpeername", "setsockopt",
	"getsockopt",
	"poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1",
	"epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd",
	"eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime",
	"signalfd", "signalfd4",
	"clone", "clone3", "futex", "set_robust_list", "get_robust_list",
	"rseq", "set_tid_address", "exit", "exit_group", "gettid", "getpid",
	"getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
	"getresgid", "getgroups", "getrandom", "clock_gettime",
	"clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
	"sched_yield", "sched_getaffinity", "prctl", "uname", "sysinfo",
	"getrlimit", "prlimit64", "getrusage", "tgkill", "tkill", "kill",
	"restart_syscall", "membarrier", "alarm", "getitimer", "setitimer",
	"wait4", "arch_prctl", "mlock", "munlock",
#if KW_SANITIZED
	/* the check-only ASan build: LeakSanitizer stops the threads with
	 * ptrace from a clone() of its own at exit */
	"ptrace", "waitid",
#endif
};

int
kw_sandbox_network(void)
{
	scmp_filter_ctx ctx;
	size_t i;
	int nr, r = KW_ERR_PERM;

	if ((ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM))) == NULL)
		goto out;
	/* TSYNC: every thread, not only this one (the renewal and handshake
	 * threads already run when the loop is about to serve); every kernel
	 * keyward runs on has it, valgrind does not */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) < 0)
		kw_warn("sandbox: seccomp cannot cover the threads already "
		    "running (no TSYNC here: valgrind?); only the main "
		    "thread and the threads it starts are filtered");
	for (i = 0; i < sizeof(kw_net_allow) / sizeof(kw_net_allow[0]); i++) {
		nr = seccomp_syscall_resolve_name(kw_net_allow[i]);
		if (nr == __NR_SCMP_ERROR)
			continue;	/* not on this architecture */
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) < 0)
			goto out;
	}
	if (seccomp_load(ctx) < 0)
		goto out;
	r = KW_OK;
	kw_debug("sandbox: the network process runs under seccomp, all its "
	    "threads (no exec, no ptrace)");
out:
	if (r != KW_OK)
		kw_err("sandbox: cannot set up seccomp for the network "
		    "process; run with --no-sandbox to go on without it");
	if (ctx != NULL)
		seccomp_release(ctx);
	return r;
}

int
kw_sandbox_signer(int inet)
{
	static const int deny_listen[] = { SCMP_SYS(listen), SCMP_SYS(accept),
	    SCMP_SYS(accept4),
#if !KW_SANITIZED
	    SCMP_SYS(ptrace),
#endif
	};
	scmp_filter_ctx ctx;
	size_t i;
	int af, r = KW_ERR_PERM;

	if ((ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL)
		goto out;
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (i = 0; i < sizeof(deny_listen) / sizeof(deny_listen[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), deny_listen[i],
		    0) < 0)
			goto out;
	/* socket(): AF_UNIX and netlink (getaddrinfo asks it), the inet
	 * families only for a TCP TCTI; anything above AF_NETLINK denied */
	for (af = 0; af <= AF_NETLINK; af++) {
		if (af == AF_UNIX || af == AF_NETLINK ||
		    (inet && (af == AF_INET || af == AF_INET6)))
			continue;
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
		    SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ,
		    (scmp_datum_t)af)) < 0)
			goto out;
	}
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_GT, (scmp_datum_t)AF_NETLINK)) < 0)
		goto out;
	if (seccomp_load(ctx) < 0)
		goto out;
	r = KW_OK;
out:
	if (r != KW_OK)
		kw_err("sandbox: cannot set up seccomp for the signer; run "
		    "with --no-sandbox to go on without it");
	if (ctx != NULL)
		seccomp_release(ctx);
	return r;
}
