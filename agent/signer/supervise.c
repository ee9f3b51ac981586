/* `keyward run`'s supervisor: starts the signer (re-executed) and the
 * network process (forked), restarts whichever dies, forwards SIGHUP and
 * SIGTERM.  It opens no key and parses nothing from the network. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_signer.h"
#include "agent/signer/signer.h"

#define KW_SUP_MAX_RESTARTS	5	/* within KW_SUP_WINDOW_S: give up */
#define KW_SUP_WINDOW_S		30
#define KW_SUP_STOP_S		20

struct kw_sup {
	const struct kw_supervise_opts *o;
	sigset_t oldmask;
	pid_t sig_pid, net_pid;
	int sig_ctl;		/* our end of the signer's ctl socket */
	int net_ctl;		/* our end of the network's ctl socket */
	int pending_net;	/* a signer end for the next network process */
	char exe[4096];		/* this binary */
	time_t restarts[KW_SUP_MAX_RESTARTS];
	size_t nrestarts;
};

/* Closes what is still open of a socketpair. */
static void
kw_close_pair(int p[2])
{
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
}

/* Too many restarts lately? */
static int
kw_sup_restart_ok(struct kw_sup *s)
{
	time_t now = time(NULL);
	size_t i, recent = 0;

	for (i = 0; i < s->nrestarts; i++)
		if (now - s->restarts[i] < KW_SUP_WINDOW_S)
			recent++;
	if (recent >= KW_SUP_MAX_RESTARTS)
		return 0;
	if (s->nrestarts < KW_SUP_MAX_RESTARTS)
		s->restarts[s->nrestarts++] = now;
	else {
		memmove(s->restarts, s->restarts + 1,
		    sizeof(s->restarts[0]) * (KW_SUP_MAX_RESTARTS - 1));
		s->restarts[KW_SUP_MAX_RESTARTS - 1] = now;
	}
	return 1;
}

static int
kw_sup_spawn_signer(struct kw_sup *s)
{
	int data[2] = { -1, -1 }, ctl[2] = { -1, -1 }, a, c, r = KW_OK;
	char *argv[6];
	int argc = 0;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, data) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
		kw_err("cannot make the signer's sockets: %s",
		    strerror(errno));
		r = KW_ERR_IO;
		goto out;
	}
	argv[argc++] = "keyward";
	argv[argc++] = "__signer";
	argv[argc++] = "--config";
	argv[argc++] = (char *)s->o->config_path;
	if (s->o->verbose)
		argv[argc++] = "--verbose";
	argv[argc] = NULL;
	if ((pid = fork()) < 0) {
		r = KW_ERR_IO;
		goto out;
	}
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
		sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
		a = fcntl(data[0], F_DUPFD, 10);
		c = fcntl(ctl[1], F_DUPFD, 10);
		if (a < 0 || c < 0 || dup2(a, 3) < 0 || dup2(c, 4) < 0)
			_exit(70);
		execv(s->exe, argv);
		_exit(70);
	}
	s->sig_pid = pid;
	if (s->sig_ctl >= 0)
		close(s->sig_ctl);
	s->sig_ctl = ctl[0];
	ctl[0] = -1;
	if (s->net_pid > 0) {
		if (kw_sgn_send_fd(s->net_ctl, data[1]) != KW_OK)
			kw_warn("cannot hand the new signer to the "
			    "network process");
	} else {
		if (s->pending_net >= 0)
			close(s->pending_net);
		s->pending_net = data[1];
		data[1] = -1;
	}
out:
	kw_close_pair(data);
	kw_close_pair(ctl);
	return r;
}

static int
kw_sup_spawn_network(struct kw_sup *s)
{
	int data[2] = { -1, -1 }, ctl[2] = { -1, -1 }, mine = -1, r = KW_OK;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
		r = KW_ERR_IO;
		goto out;
	}
	if (s->pending_net >= 0) {
		mine = s->pending_net;
		s->pending_net = -1;
	} else {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
		    data) < 0) {
			r = KW_ERR_IO;
			goto out;
		}
		if (kw_sgn_send_fd(s->sig_ctl, data[0]) != KW_OK)
			kw_warn("cannot hand the new network process "
			    "to the signer");
		/* closed before the fork: a network process holding the
		 * signer's end too would never see the signer die */
		close(data[0]);
		data[0] = -1;
		mine = data[1];
		data[1] = -1;
	}
	if ((pid = fork()) < 0) {
		r = KW_ERR_IO;
		goto out;
	}
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
		sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
		if (s->sig_ctl >= 0)
			close(s->sig_ctl);
		if (s->net_ctl >= 0)
			close(s->net_ctl);
		close(ctl[0]);
		/* exit, not _exit: the network process's leak check (ASan)
		 * runs at its exit like the single process's did */
		exit(s->o->network(s->o->arg, mine, ctl[1]));
	}
	s->net_pid = pid;
	if (s->net_ctl >= 0)
		close(s->net_ctl);
	s->net_ctl = ctl[0];
	ctl[0] = -1;
out:
	if (mine >= 0)
		close(mine);
	kw_close_pair(data);
	kw_close_pair(ctl);
	return r;
}

static const char *
kw_how(int st, char *buf, size_t len)
{
	if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by signal %d (%s)",
		    WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	return buf;
}

/* Wait for pid up to secs, then SIGKILL it. */
static int
kw_sup_reap(pid_t pid, int secs)
{
	int st = 0, i;

	for (i = 0; i < secs * 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(100000);
	}
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, &st, 0);
	return st;
}

int
kw_supervise(const struct kw_supervise_opts *o)
{
	struct kw_sup s;
	struct timespec ts = { 1, 0 };
	siginfo_t si;
	sigset_t set;
	const char *exe;
	char how[128];
	int st, code = KW_EXIT_FAIL, sig;
	pid_t pid;

	memset(&s, 0, sizeof(s));
	s.o = o;
	/* The file this process was started from (under valgrind
	 * /proc/self/exe is valgrind), resolved now: the signer is
	 * re-executed from it, also after a restart. */
	exe = (const char *)getauxval(AT_EXECFN);
	if (exe == NULL || realpath(exe, s.exe) == NULL)
		snprintf(s.exe, sizeof(s.exe), "/proc/self/exe");
	s.sig_ctl = s.net_ctl = s.pending_net = -1;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &s.oldmask);
	signal(SIGPIPE, SIG_IGN);
	if (kw_sup_spawn_signer(&s) != KW_OK ||
	    kw_sup_spawn_network(&s) != KW_OK) {
		kw_err("cannot start the signer and network "
		    "processes: %s", strerror(errno));
		goto stop;
	}
	for (;;) {
		sig = sigtimedwait(&set, &si, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			goto stop;
		if (sig == SIGHUP) {
			(void)kill(s.net_pid, SIGHUP);
			continue;
		}
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			if (pid == s.net_pid) {
				s.net_pid = 0;
				if (!WIFSIGNALED(st)) {
					code = WEXITSTATUS(st);
					goto stop;
				}
				if (!kw_sup_restart_ok(&s)) {
					kw_err("the network process "
					    "%s; it died %d times in %ds, "
					    "giving up", kw_how(st, how,
					    sizeof(how)), KW_SUP_MAX_RESTARTS,
					    KW_SUP_WINDOW_S);
					goto stop;
				}
				kw_err("the network process %s; "
				    "restarting it (the signer keeps the keys "
				    "open)", kw_how(st, how, sizeof(how)));
				if (kw_sup_spawn_network(&s) != KW_OK)
					goto stop;
			} else if (pid == s.sig_pid) {
				s.sig_pid = 0;
				/* a clean exit: SIGTERM from outside (systemd
				 * stops the whole cgroup); stop with it */
				if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
					goto stop;
				if (!kw_sup_restart_ok(&s)) {
					kw_err("the signer %s; it "
					    "died %d times in %ds, giving up",
					    kw_how(st, how, sizeof(how)),
					    KW_SUP_MAX_RESTARTS,
					    KW_SUP_WINDOW_S);
					code = KW_EXIT_KEY;
					goto stop;
				}
				kw_err("the signer %s; handshakes "
				    "fail until it is back; restarting it",
				    kw_how(st, how, sizeof(how)));
				if (kw_sup_spawn_signer(&s) != KW_OK)
					goto stop;
			}
		}
	}
stop:
	if (s.net_pid > 0) {
		(void)kill(s.net_pid, SIGTERM);
		st = kw_sup_reap(s.net_pid, KW_SUP_STOP_S);
		if (WIFEXITED(st))
			code = WEXITSTATUS(st);
	}
	if (s.sig_pid > 0) {
		(void)kill(s.sig_pid, SIGTERM);
		(void)kw_sup_reap(s.sig_pid, KW_SUP_STOP_S);
	}
	if (s.sig_ctl >= 0)
		close(s.sig_ctl);
	if (s.net_ctl >= 0)
		close(s.net_ctl);
	if (s.pending_net >= 0)
		close(s.pending_net);
	sigprocmask(SIG_SETMASK, &s.oldmask, NULL);
	return code;
}
