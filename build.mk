# build.mk: the build graph of the barometer. `make report` runs it (under a lock, with -j);
# `make -f build.mk -n _publish` shows what would be rebuilt (after a first build). Every target is a real file under
# $(B); make alone decides what is stale, from file times, without starting Python.
#
#   exports, codebook, register, 01_ingest ──> tokens/ingest.stamp (+ processed/, site/ingest/)
#        └─ tokens/year-<y>.json: rewritten only when year y's processed rows change
#   notebook + its library modules + year-<y>.json + year-<y-1>.json ──> site/<y>/<page>.html
#   20_trends, 21_pooled + every year token ──> site/pooled/<page>.html
#   a site's pages ──> site/<site>/results.csv, provenance.json
#   every site ──> site/index.html ──> $(REPORTS_DIR)/.published (analysis.publish)
#   02_glossary + codebook ──> site/ordliste.html (glossary, data dictionaries)
#   03_provenance + every site's provenance.json ──> site/proveniens.html
# `publish` runs ingest, then the rest in a second pass (`_publish`) that knows the years.
# Each recipe runs through src/analysis/warm_client.py: forked from the checkout's warm server
# (analysis.warm, started by the first step that finds none), or a fresh interpreter without one.
SHELL := /bin/bash
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDEXPANSION:

PY                ?= .venv/bin/python
RAW_DIR           ?= data/raw
CODEBOOK          ?= data/codebook.yml
REPORTS_DIR       ?= reports
PROCESSED_DIR     ?= data/processed
NOTEBOOKS_DIR     ?= notebooks
REGISTER_SNAPSHOT ?= $(wildcard ../shared/reference)
MEDIUM            ?= 5000
LARGE             ?= 20000
LANG_REPORT       ?= nb
YEARS             ?=
POOLED            ?=

REPORTS := $(abspath $(REPORTS_DIR))
B       ?= $(dir $(REPORTS))build/$(notdir $(REPORTS))
S       := $(B)/site
T       := $(B)/tokens
comma   := ,

STEP := $(PY) -S src/analysis/warm_client.py --kind step -- --build-dir $(B) --codebook $(CODEBOOK) \
  --register-snapshot "$(REGISTER_SNAPSHOT)" --notebooks-dir $(NOTEBOOKS_DIR) \
  --medium $(MEDIUM) --large $(LARGE) --lang $(LANG_REPORT)

# Generated makefiles: the library modules of each notebook (remade from the source), and the
# years of the data (written by ingest in the first pass, read in the second).
-include $(B)/deps.mk
-include $(B)/years.mk

$(B)/deps.mk: $(wildcard src/analysis/*.py) $(wildcard $(NOTEBOOKS_DIR)/*.ipynb)
	@mkdir -p $(@D)
	@$(STEP) deps --out $@

BUILD_YEARS := $(or $(subst $(comma), ,$(YEARS)),$(ALL_YEARS))
WITH_POOLED := $(if $(POOLED),$(filter 1,$(POOLED)),$(if $(YEARS),,$(if $(word 2,$(ALL_YEARS)),1)))
SITES       := ingest $(BUILD_YEARS) $(if $(WITH_POOLED),pooled)
YEAR_PAGES  := index.html beskrivende.html regresjoner.html metode.html
POOLED_PAGES := index.html regresjoner.html
PAGES_OF     = $(if $(filter pooled,$(1)),$(POOLED_PAGES),$(YEAR_PAGES))

# Parameters are checked, then written to files as make reads this file, each only when a
# value changes (no rule, so `make -n` stays exact): a change rebuilds exactly the steps that
# take it. (analysis.steps.check_parameters makes the same checks for the Python front door.)
$(if $(filter $(LANG_REPORT),nb en),,$(error make report failed: language must be one of ['en', 'nb'], not '$(LANG_REPORT)'))
$(if $(shell [ "$(MEDIUM)" -gt 0 ] 2>/dev/null && [ "$(MEDIUM)" -lt "$(LARGE)" ] && echo ok),,\
  $(error make report failed: size thresholds must satisfy 0 < medium < large, got $(MEDIUM), $(LARGE)))
$(if $(wildcard $(CODEBOOK)),,$(error make report failed: codebook $(CODEBOOK) not found; pass CODEBOOK=<path to codebook.yml>))
PARAMS_ingest := raw=$(abspath $(RAW_DIR)) codebook=$(abspath $(CODEBOOK)) \
  register=$(abspath $(REGISTER_SNAPSHOT)) medium=$(MEDIUM) large=$(LARGE) lang=$(LANG_REPORT) \
  notebooks=$(abspath $(NOTEBOOKS_DIR))
PARAMS_pages  := codebook=$(abspath $(CODEBOOK)) register=$(abspath $(REGISTER_SNAPSHOT)) \
  medium=$(MEDIUM) large=$(LARGE) lang=$(LANG_REPORT) pooled=$(WITH_POOLED) \
  notebooks=$(abspath $(NOTEBOOKS_DIR))
PARAMS_index  := $(PARAMS_pages) years=$(BUILD_YEARS)
PARAMS_publish := $(PARAMS_index) processed=$(abspath $(PROCESSED_DIR))
write_params = $(shell mkdir -p $(B)/params && f=$(B)/params/$(1).txt \
  && printf '%s\n' $(PARAMS_$(1)) > $$f.tmp && { cmp -s $$f.tmp $$f && rm $$f.tmp || mv $$f.tmp $$f; })
$(foreach p,ingest pages index publish,$(call write_params,$(p)))

REGISTER_FILES := $(if $(REGISTER_SNAPSHOT),$(wildcard $(REGISTER_SNAPSHOT)/*.csv $(REGISTER_SNAPSHOT)/*.json)) data/register_snapshot.sha256
PAGE_INPUTS = $(CODEBOOK) $(REGISTER_FILES) $(B)/params/pages.txt $(T)/years.json

# ---- ingest
$(T)/ingest.stamp: $(wildcard $(RAW_DIR)/*) $(CODEBOOK) $(REGISTER_FILES) \
  $(NOTEBOOKS_DIR)/01_ingest.ipynb $(DEPS_01_ingest) $(B)/params/ingest.txt
	@$(STEP) ingest --raw-dir $(RAW_DIR)

$(T)/years.json $(T)/inputs.json $(S)/ingest/index.html: $(T)/ingest.stamp ;
$(S)/ingest/analyst-index.html $(S)/ingest/provenance.json: $(T)/ingest.stamp ;
$(T)/year-%.json: $(T)/ingest.stamp
	@test -f $@ || { echo "make report failed: no respondents for $*; the data has $(ALL_YEARS)" >&2; exit 1; }

# ---- one survey year: each page needs its notebook, its modules, the year and the survey
# year before it (PREV_<year>, from years.mk)
PREV = $(if $(PREV_$(1)),$(T)/year-$(PREV_$(1)).json)
YEAR_PAGE_INPUTS = $(T)/year-%.json $$(call PREV,$$*) $(PAGE_INPUTS)

$(S)/%/index.html: $(NOTEBOOKS_DIR)/10_summary.ipynb $(DEPS_10_summary) $(YEAR_PAGE_INPUTS)
	@$(STEP) page --site $* --notebook 10_summary --page index.html --pooled "$(WITH_POOLED)"
$(S)/%/beskrivende.html: $(NOTEBOOKS_DIR)/11_descriptives.ipynb $(DEPS_11_descriptives) $(YEAR_PAGE_INPUTS)
	@$(STEP) page --site $* --notebook 11_descriptives --page beskrivende.html --pooled "$(WITH_POOLED)"
$(S)/%/regresjoner.html: $(NOTEBOOKS_DIR)/12_regressions.ipynb $(DEPS_12_regressions) $(YEAR_PAGE_INPUTS)
	@$(STEP) page --site $* --notebook 12_regressions --page regresjoner.html --pooled "$(WITH_POOLED)"
$(S)/%/metode.html: $(NOTEBOOKS_DIR)/13_methods.ipynb $(DEPS_13_methods) $(YEAR_PAGE_INPUTS)
	@$(STEP) page --site $* --notebook 13_methods --page metode.html --pooled "$(WITH_POOLED)"

# ---- the pooled site: every year
ALL_TOKENS = $(foreach y,$(ALL_YEARS),$(T)/year-$(y).json)
$(S)/pooled/index.html: $(NOTEBOOKS_DIR)/20_trends.ipynb $(DEPS_20_trends) $(ALL_TOKENS) $(PAGE_INPUTS)
	@$(STEP) page --site pooled --notebook 20_trends --page index.html
$(S)/pooled/regresjoner.html: $(NOTEBOOKS_DIR)/21_pooled.ipynb $(DEPS_21_pooled) $(ALL_TOKENS) $(PAGE_INPUTS)
	@$(STEP) page --site pooled --notebook 21_pooled --page regresjoner.html

# ---- a site's results and provenance, from its pages (the analyst pages come with them)
$(S)/%/results.csv $(S)/%/provenance.json: $$(addprefix $(S)/$$*/,$$(call PAGES_OF,$$*))
	@$(STEP) site --site $*

# ---- landing page, data dictionary, publication
# The pooled site first (and the glossary before the index, below): make -j starts prerequisites
# in the order they are listed, and the pooled trends page is the longest step (listed last, it
# ran alone at the end of a cold build while the other core idled).
SITE_FILES = $(S)/ingest/index.html $(S)/ingest/provenance.json \
  $(foreach s,$(filter pooled,$(SITES)) $(filter-out ingest pooled,$(SITES)),$(addprefix $(S)/$(s)/,$(call PAGES_OF,$(s)) results.csv provenance.json))

$(S)/index.html: $(NOTEBOOKS_DIR)/00_index.ipynb $(DEPS_00_index) $(SITE_FILES) \
  $(CODEBOOK) $(B)/params/index.txt $(T)/years.json
	@$(STEP) index --years "$(BUILD_YEARS)" --pooled "$(WITH_POOLED)"

$(S)/ordliste.html: $(NOTEBOOKS_DIR)/02_glossary.ipynb $(DEPS_02_glossary) $(CODEBOOK) \
  $(B)/params/index.txt $(T)/years.json
	@$(STEP) glossary --pooled "$(WITH_POOLED)"

$(S)/proveniens.html: $(NOTEBOOKS_DIR)/03_provenance.ipynb $(DEPS_03_provenance) $(SITE_FILES) \
  $(B)/params/index.txt
	@$(STEP) provenance --sites "$(SITES)" --pooled "$(WITH_POOLED)"

$(S)/results_dictionary.csv: src/analysis/results.py
	@$(STEP) dictionary

$(REPORTS)/.published: $(S)/ordliste.html $(S)/results_dictionary.csv $(S)/index.html $(S)/proveniens.html $(SITE_FILES) $(B)/params/publish.txt
	@$(STEP) publish --sites "$(SITES)" --reports-dir $(REPORTS) --processed-out $(PROCESSED_DIR)

# Two passes: ingest first (it writes years.mk, which the second pass reads), then the rest.
.PHONY: publish _publish
publish: $(T)/ingest.stamp
	@$(MAKE) -f $(firstword $(MAKEFILE_LIST)) --no-print-directory _publish
_publish: $(REPORTS)/.published
	@echo "sites: $(SITES)"
