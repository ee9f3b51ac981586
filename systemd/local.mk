# systemd/: the daemon's unit, the per-identity renewal timer, the keyward
# system user (sysusers.d) and its state directory (tmpfiles.d).  The units
# name the installed binary and config: make fills in @bindir@ and
# @sysconfdir@ from the .in files.  The directories come from configure
# (--with-systemdsystemunitdir, --with-sysusersdir, --with-tmpfilesdir).
systemdsystemunit_DATA = systemd/keyward.service \
	systemd/keyward-renew@.service
dist_systemdsystemunit_DATA = systemd/keyward-renew@.timer
EXTRA_DIST += systemd/keyward.service.in systemd/keyward-renew@.service.in \
	systemd/keyward.sysusers systemd/keyward.tmpfiles
CLEANFILES += $(systemdsystemunit_DATA)

KW_EDIT_PATHS = sed -e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g'
systemd/keyward.service: $(srcdir)/systemd/keyward.service.in Makefile
systemd/keyward-renew@.service: $(srcdir)/systemd/keyward-renew@.service.in Makefile
$(systemdsystemunit_DATA):
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	$(KW_EDIT_PATHS) $(srcdir)/$@.in > $@.tmp && mv $@.tmp $@

# sysusers.d and tmpfiles.d files are installed as keyward.conf.
install-data-local: install-kw-systemd-conf
uninstall-local: uninstall-kw-systemd-conf
install-kw-systemd-conf:
	$(MKDIR_P) '$(DESTDIR)$(sysusersdir)' '$(DESTDIR)$(tmpfilesdir)'
	$(INSTALL_DATA) $(srcdir)/systemd/keyward.sysusers \
		'$(DESTDIR)$(sysusersdir)/keyward.conf'
	$(INSTALL_DATA) $(srcdir)/systemd/keyward.tmpfiles \
		'$(DESTDIR)$(tmpfilesdir)/keyward.conf'
uninstall-kw-systemd-conf:
	rm -f '$(DESTDIR)$(sysusersdir)/keyward.conf' \
		'$(DESTDIR)$(tmpfilesdir)/keyward.conf'
.PHONY: install-kw-systemd-conf uninstall-kw-systemd-conf
