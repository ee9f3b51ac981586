/* `keyward run`'s supervisor: starts the signer (re-executed) and the
 * network processes (forked, `workers` of them), restarts whichever dies,
 * forwards SIGHUP and SIGTERM.  It opens no key and parses nothing from the network. */
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

/* Recent restarts of one process (the signer, or one network process:
 * each has its own budget, so one crashing worker does not use up the
 * others'). */
struct kw_sup_budget {
	time_t restarts[KW_SUP_MAX_RESTARTS];
	size_t nrestarts;
};

struct kw_sup_net {
	pid_t pid;
	int ctl;		/* our end of its ctl socket */
	int pending;		/* worker 0: a signer end for its next start */
	struct kw_sup_budget budget;
};

struct kw_sup {
	const struct kw_supervise_opts *o;
	sigset_t oldmask;
	pid_t sig_pid;
	int sig_ctl;		/* our end of the signer's ctl socket */
	struct kw_sup_net net[KW_SUP_MAX_WORKERS];
	unsigned nnet;
	struct kw_sup_budget sig_budget;
	char exe[4096];		/* this binary */
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
kw_sup_restart_ok(struct kw_sup_budget *b)
{
	time_t now = time(NULL);
	size_t i, recent = 0;

	for (i = 0; i < b->nrestarts; i++)
		if (now - b->restarts[i] < KW_SUP_WINDOW_S)
			recent++;
	if (recent >= KW_SUP_MAX_RESTARTS)
		return 0;
	if (b->nrestarts < KW_SUP_MAX_RESTARTS)
		b->restarts[b->nrestarts++] = now;
	else {
		memmove(b->restarts, b->restarts + 1,
		    sizeof(b->restarts[0]) * (KW_SUP_MAX_RESTARTS - 1));
		b->restarts[KW_SUP_MAX_RESTARTS - 1] = now;
	}
	return 1;
}

/* "the network process", or "network process 2" with several. */
static const char *
kw_sup_name(const struct kw_sup *s, unsigned i, char *buf, size_t len)
{
	if (s->nnet == 1)
		snprintf(buf, len, "the network process");
	else
		snprintf(buf, len, "network process %u", i);
	return buf;
}

/* A new signer socket for running worker i (not 0: its end is the new
 * signer's fd 3): one end to the signer, the other to the worker. */
static void
kw_sup_rewire(struct kw_sup *s, unsigned i)
{
	int data[2] = { -1, -1 };
	char name[64];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, data) < 0 ||
	    kw_sgn_send_fd(s->sig_ctl, data[0]) != KW_OK ||
	    kw_sgn_send_fd(s->net[i].ctl, data[1]) != KW_OK)
		kw_warn("cannot hand the new signer to %s",
		    kw_sup_name(s, i, name, sizeof(name)));
	kw_close_pair(data);
}

static int
kw_sup_spawn_signer(struct kw_sup *s)
{
	int data[2] = { -1, -1 }, ctl[2] = { -1, -1 }, a, c, r = KW_OK;
	char *argv[6];
	int argc = 0;
	unsigned i;
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
	/* fd 3 of the signer is network process 0's */
	if (s->net[0].pid > 0) {
		if (kw_sgn_send_fd(s->net[0].ctl, data[1]) != KW_OK)
			kw_warn("cannot hand the new signer to the "
			    "network process");
	} else {
		if (s->net[0].pending >= 0)
			close(s->net[0].pending);
		s->net[0].pending = data[1];
		data[1] = -1;
	}
	/* the others get theirs through the ctl sockets; one not running
	 * makes its own when it starts */
	for (i = 1; i < s->nnet; i++)
		if (s->net[i].pid > 0)
			kw_sup_rewire(s, i);
out:
	kw_close_pair(data);
	kw_close_pair(ctl);
	return r;
}

static int
kw_sup_spawn_network(struct kw_sup *s, unsigned w)
{
	int data[2] = { -1, -1 }, ctl[2] = { -1, -1 }, mine = -1, r = KW_OK;
	struct kw_sup_net *n = &s->net[w];
	unsigned i;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
		r = KW_ERR_IO;
		goto out;
	}
	if (n->pending >= 0) {
		mine = n->pending;
		n->pending = -1;
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
		/* nothing of the other workers' */
		for (i = 0; i < s->nnet; i++) {
			if (s->net[i].ctl >= 0)
				close(s->net[i].ctl);
			if (s->net[i].pending >= 0)
				close(s->net[i].pending);
		}
		close(ctl[0]);
		/* exit, not _exit: the network process's leak check (ASan)
		 * runs at its exit like the single process's did */
		exit(s->o->network(s->o->arg, w, mine, ctl[1]));
	}
	n->pid = pid;
	if (n->ctl >= 0)
		close(n->ctl);
	n->ctl = ctl[0];
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

/* Network process w ended with status st.  KW_OK: it was started
 * again; else stop everything (*code: the exit code to stop with, when
 * it exited by itself). */
static int
kw_sup_network_died(struct kw_sup *s, unsigned w, int st, int *code,
    int *code_set)
{
	char how[128], name[64];

	s->net[w].pid = 0;
	if (s->o->gone != NULL)
		s->o->gone(s->o->arg, w);
	kw_sup_name(s, w, name, sizeof(name));
	if (WIFEXITED(st) && WEXITSTATUS(st) == KW_SUP_EXIT_RESTART) {
		if (!kw_sup_restart_ok(&s->net[w].budget)) {
			kw_err("%s asked for %d restarts in %ds, giving up",
			    name, KW_SUP_MAX_RESTARTS, KW_SUP_WINDOW_S);
			return KW_ERR_STATE;
		}
		kw_info("starting %s again with the new configuration", name);
		return kw_sup_spawn_network(s, w);
	}
	if (!WIFSIGNALED(st)) {
		*code = WEXITSTATUS(st);
		*code_set = 1;
		return KW_ERR_STATE;
	}
	if (!kw_sup_restart_ok(&s->net[w].budget)) {
		kw_err("%s %s; it died %d times in %ds, giving up", name,
		    kw_how(st, how, sizeof(how)), KW_SUP_MAX_RESTARTS,
		    KW_SUP_WINDOW_S);
		return KW_ERR_STATE;
	}
	kw_err("%s %s; restarting it (the signer keeps the keys open%s)",
	    name, kw_how(st, how, sizeof(how)), s->nnet > 1 ?
	    ", the other network processes keep serving" : "");
	return kw_sup_spawn_network(s, w);
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
	int st, code = KW_EXIT_FAIL, code_set = 0, sig;
	unsigned i;
	pid_t pid;

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.nnet = o->workers == 0 ? 1 : o->workers > KW_SUP_MAX_WORKERS ?
	    KW_SUP_MAX_WORKERS : o->workers;
	/* The file this process was started from (under valgrind
	 * /proc/self/exe is valgrind), resolved now: the signer is
	 * re-executed from it, also after a restart. */
	exe = (const char *)getauxval(AT_EXECFN);
	if (exe == NULL || realpath(exe, s.exe) == NULL)
		snprintf(s.exe, sizeof(s.exe), "/proc/self/exe");
	s.sig_ctl = -1;
	for (i = 0; i < KW_SUP_MAX_WORKERS; i++)
		s.net[i].ctl = s.net[i].pending = -1;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &s.oldmask);
	signal(SIGPIPE, SIG_IGN);
	if (kw_sup_spawn_signer(&s) != KW_OK)
		goto fail;
	for (i = 0; i < s.nnet; i++)
		if (kw_sup_spawn_network(&s, i) != KW_OK)
			goto fail;
	if (s.nnet > 1)
		kw_info("%u network processes", s.nnet);
	for (;;) {
		sig = sigtimedwait(&set, &si, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			goto stop;
		if (sig == SIGHUP) {
			for (i = 0; i < s.nnet; i++)
				if (s.net[i].pid > 0)
					(void)kill(s.net[i].pid, SIGHUP);
			continue;
		}
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			for (i = 0; i < s.nnet; i++)
				if (pid == s.net[i].pid)
					break;
			if (i < s.nnet) {
				if (kw_sup_network_died(&s, i, st, &code,
				    &code_set) != KW_OK)
					goto stop;
			} else if (pid == s.sig_pid) {
				s.sig_pid = 0;
				/* a clean exit: SIGTERM from outside (systemd
				 * stops the whole cgroup); stop with it */
				if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
					goto stop;
				if (!kw_sup_restart_ok(&s.sig_budget)) {
					kw_err("the signer %s; it "
					    "died %d times in %ds, giving up",
					    kw_how(st, how, sizeof(how)),
					    KW_SUP_MAX_RESTARTS,
					    KW_SUP_WINDOW_S);
					code = KW_EXIT_KEY;
					code_set = 1;
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
fail:
	kw_err("cannot start the signer and network processes: %s",
	    strerror(errno));
stop:
	for (i = 0; i < s.nnet; i++)
		if (s.net[i].pid > 0)
			(void)kill(s.net[i].pid, SIGTERM);
	for (i = 0; i < s.nnet; i++) {
		if (s.net[i].pid <= 0)
			continue;
		st = kw_sup_reap(s.net[i].pid, KW_SUP_STOP_S);
		/* the first worker's status, unless one exited by itself
		 * before (that one says why everything stopped) */
		if (!code_set && WIFEXITED(st) && (i == 0 ||
		    WEXITSTATUS(st) != 0))
			code = WEXITSTATUS(st);
	}
	if (s.sig_pid > 0) {
		(void)kill(s.sig_pid, SIGTERM);
		(void)kw_sup_reap(s.sig_pid, KW_SUP_STOP_S);
	}
	if (s.sig_ctl >= 0)
		close(s.sig_ctl);
	for (i = 0; i < KW_SUP_MAX_WORKERS; i++) {
		if (s.net[i].ctl >= 0)
			close(s.net[i].ctl);
		if (s.net[i].pending >= 0)
			close(s.net[i].pending);
	}
	sigprocmask(SIG_SETMASK, &s.oldmask, NULL);
	return code;
}
