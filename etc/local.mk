# etc/: the example configuration, installed as
# $(sysconfdir)/keyward/keyward.conf.  make install never overwrites a
# configuration that is there already; make uninstall removes it only while
# it is still the unedited example.
kwconfdir = $(sysconfdir)/keyward
EXTRA_DIST += etc/keyward.conf
install-data-local: install-kw-conf
uninstall-local: uninstall-kw-conf
install-kw-conf:
	$(MKDIR_P) '$(DESTDIR)$(kwconfdir)'
	@if test -f '$(DESTDIR)$(kwconfdir)/keyward.conf'; then \
		echo "keeping $(DESTDIR)$(kwconfdir)/keyward.conf (the example is $(srcdir)/etc/keyward.conf)"; \
	else \
		echo " $(INSTALL_DATA) $(srcdir)/etc/keyward.conf '$(DESTDIR)$(kwconfdir)/keyward.conf'"; \
		$(INSTALL_DATA) $(srcdir)/etc/keyward.conf '$(DESTDIR)$(kwconfdir)/keyward.conf'; \
	fi
uninstall-kw-conf:
	@if cmp -s $(srcdir)/etc/keyward.conf '$(DESTDIR)$(kwconfdir)/keyward.conf'; then \
		echo " rm -f '$(DESTDIR)$(kwconfdir)/keyward.conf'"; \
		rm -f '$(DESTDIR)$(kwconfdir)/keyward.conf'; \
	fi
.PHONY: install-kw-conf uninstall-kw-conf

# The example as shipped and with every option on passes keyward run --check.
TESTS += tests/package/example_conf.sh
EXTRA_DIST += tests/package/example_conf.sh
