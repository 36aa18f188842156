# cdp — PGXS build.
#
# The version lives in one place, cdp.control; everything else derives from
# it (the install script's name, cdp.version() in C).  sql/version.sql fails
# when META.json says otherwise.

EXTENSION  = cdp
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = cdp
OBJS = \
	src/cdp.o \
	src/normalize.o \
	src/pseudonym.o \
	src/stitch.o \
	src/consent.o \
	src/privacy.o \
	src/rfm.o \
	src/rfm_refresh.o \
	src/clv.o \
	src/affinity.o \
	src/crosssell.o \
	src/journeys.o \
	src/attribution.o

# SQL declarations live beside their C module and are assembled, in this
# order (later modules may use earlier ones), into the install script.
SQL_MODULES = \
	src/cdp.sql \
	src/normalize.sql \
	src/pseudonym.sql \
	src/sources.sql \
	src/identity_core.sql \
	src/refresh.sql \
	src/identity.sql \
	src/consent.sql \
	src/clv.sql \
	src/rfm.sql \
	src/affinity.sql \
	src/crosssell.sql \
	src/segments.sql \
	src/profile360.sql \
	src/privacy.sql \
	src/journeys.sql

DATA_built = $(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN = $(EXTENSION)--$(EXTVERSION).sql

# pg_regress: one file per feature in sql/ + expected/
REGRESS = \
	version \
	encoding \
	normalize \
	sources \
	erp_generator \
	identity \
	stitch \
	consent \
	consent_fold \
	erasure \
	clv \
	rfm \
	affinity \
	crosssell \
	segments \
	audiences \
	refresh \
	privacy \
	attribution \
	attribution_oracle \
	funnel \
	journeys

# isolation specs and TAP tests live under test/
ISOLATION = \
	link_overlap \
	link_during_stitch \
	unlink_during_link \
	consent_during_link \
	segment_refresh \
	rfm_refresh_read \
	merge_during_reattribute
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=test/isolation/output
PROVE_TESTS = $(wildcard test/t/*.pl)
ifneq ($(PROVE_TESTS),)
TAP_TESTS = 1
endif

PG_CPPFLAGS = -DCDP_VERSION='"$(EXTVERSION)"'

# CI builds with warnings as errors.  -Wextra's unused-parameter and
# sign-compare fire inside PostgreSQL's own headers, so they are turned off.
WARNFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers -Werror
SHLIB_LINK += $(ICU_LIBS)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_MODULES) $(EXTENSION).control Makefile
	( printf '%s\n' '-- cdp $(EXTVERSION) install script, generated from src/*.sql by the Makefile; edit those.'; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION cdp" to load this file. \quit'; \
	  for f in $(SQL_MODULES); do echo; echo "-- ---- $$f ----"; cat $$f; done ) > $@
