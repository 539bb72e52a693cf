# build.mk: the build graph of the barometer. `make report` runs it (through
# `python -m analysis.build`, which checks the parameters, writes them and one content token
# per input into the build folder $(B), and holds the lock); `make report DRY_RUN=1` lists what
# would be rebuilt. Every target is a real file under $(B); make decides what is stale from
# file times, and the tokens of the inputs change only when their bytes do.
#
#   inputs/{raw,codebook,register,environment}.sha256, 01_ingest ──> tokens/ingest.stamp
#        (+ processed/, site/ingest/)
#        └─ tokens/year-<y>.json: rewritten only when year y's processed rows change
#   notebook + its library modules + year-<y>.json + year-<y-1>.json ──> site/<y>/<page>.html
#   20_trends, 21_pooled + every year token ──> site/pooled/<page>.html
#   a site's pages ──> site/<site>/results.csv, provenance.json
#   every site ──> site/index.html ──> tokens/published.stamp (analysis.publish)
#   02_glossary + codebook ──> site/ordliste.html (glossary, data dictionaries)
#   03_provenance + every site's provenance.json ──> site/proveniens.html
# `publish` runs ingest, then the rest in a second pass (`_publish`) that knows the years.
# make sees no path of the user's: only $(B) (under the checkout's build/), the interpreter,
# the notebooks and the years; the steps read the paths from $(B)/params.json.
# Each recipe runs through src/analysis/warm_client.py: forked from the checkout's warm server
# (analysis.warm, started by the first step that finds none), or a fresh interpreter without one.
SHELL := /bin/bash
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDEXPANSION:

PY                ?= .venv/bin/python
NOTEBOOKS_DIR     ?= notebooks
YEARS             ?=
POOLED            ?=
$(if $(B),,$(error make report failed: build.mk runs through make report (B, the build folder, is not set)))
$(if $(wildcard $(B)/params/ingest.txt),,$(error make report failed: $(B) has no parameters; run make report))

# Years and POOLED are checked again here, with make's own functions (no shell sees them)
nondigits = $(strip $(subst 0,,$(subst 1,,$(subst 2,,$(subst 3,,$(subst 4,,$(subst 5,,$(subst 6,,$(subst 7,,$(subst 8,,$(subst 9,,$(1))))))))))))
$(if $(call nondigits,$(YEARS)),$(error make report failed: YEARS must be survey years, got '$(YEARS)'))
$(if $(filter-out 0 1,$(POOLED)),$(error make report failed: POOLED must be 0 or 1, got '$(POOLED)'))

S       := $(B)/site
T       := $(B)/tokens
comma   := ,

STEP := $(PY) -S src/analysis/warm_client.py --kind step -- --build-dir $(B)

# Generated makefiles: the library modules of each notebook (remade from the source), and the
# years of the data (written by ingest in the first pass, read in the second).
-include $(B)/deps.mk
-include $(B)/years.mk

$(B)/deps.mk: $(wildcard src/analysis/*.py) $(wildcard $(NOTEBOOKS_DIR)/*.ipynb)
	@mkdir -p $(@D)
	@$(STEP) deps --out $@

BUILD_YEARS := $(or $(YEARS),$(ALL_YEARS))
WITH_POOLED := $(if $(POOLED),$(filter 1,$(POOLED)),$(if $(YEARS),,$(if $(word 2,$(ALL_YEARS)),1)))
SITES       := ingest $(BUILD_YEARS) $(if $(WITH_POOLED),pooled)
YEAR_PAGES  := index.html beskrivende.html regresjoner.html metode.html
POOLED_PAGES := index.html regresjoner.html
PAGES_OF     = $(if $(filter pooled,$(1)),$(POOLED_PAGES),$(YEAR_PAGES))

# The parameters that only make knows (the years of the data, whether the pooled site is
# built) are written here with make's $(file), each only when its value changes; the others
# (params/{ingest,pages,publish}.txt) and the input tokens are written by analysis.build.
# A change rebuilds exactly the steps that take it.
same = $(and $(filter $(1),$(2)),$(filter $(2),$(1)))
write_param = $(if $(call same,$(file <$(B)/params/$(1).txt),$(2)),,$(file >$(B)/params/$(1).txt,$(2)))
$(call write_param,pooled,pooled=$(WITH_POOLED))
$(call write_param,years,years=$(BUILD_YEARS))

INPUT_TOKENS := $(B)/inputs/codebook.sha256 $(B)/inputs/register.sha256 $(B)/inputs/environment.sha256
PAGE_INPUTS = $(INPUT_TOKENS) $(B)/params/pages.txt $(B)/params/pooled.txt $(T)/years.json

# ---- ingest
$(T)/ingest.stamp: $(B)/inputs/raw.sha256 $(INPUT_TOKENS) \
  $(NOTEBOOKS_DIR)/01_ingest.ipynb $(DEPS_01_ingest) $(B)/params/ingest.txt
	@$(STEP) ingest

$(S)/ingest/index.html $(S)/ingest/analyst-index.html $(S)/ingest/provenance.json: $(T)/ingest.stamp ;
# The tokens ingest writes (each only when its content changes) have no prerequisites: the
# first pass has run ingest, and a token it left alone is up to date, also for make -n (which
# would otherwise take every token older than the stamp for remade, and list every page).
$(T)/years.json $(T)/inputs.json: ; @test -f $@
$(T)/year-%.json:
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

INDEX_INPUTS = $(INPUT_TOKENS) $(B)/params/pages.txt $(B)/params/pooled.txt $(B)/params/years.txt

$(S)/index.html: $(NOTEBOOKS_DIR)/00_index.ipynb $(DEPS_00_index) $(SITE_FILES) \
  $(INDEX_INPUTS) $(T)/years.json
	@$(STEP) index --years "$(BUILD_YEARS)" --pooled "$(WITH_POOLED)"

$(S)/ordliste.html: $(NOTEBOOKS_DIR)/02_glossary.ipynb $(DEPS_02_glossary) \
  $(INDEX_INPUTS) $(T)/years.json
	@$(STEP) glossary --pooled "$(WITH_POOLED)"

$(S)/proveniens.html: $(NOTEBOOKS_DIR)/03_provenance.ipynb $(DEPS_03_provenance) $(SITE_FILES) \
  $(INDEX_INPUTS)
	@$(STEP) provenance --sites "$(SITES)" --pooled "$(WITH_POOLED)"

$(S)/results_dictionary.csv: src/analysis/results.py
	@$(STEP) dictionary

$(T)/published.stamp: $(S)/ordliste.html $(S)/results_dictionary.csv $(S)/index.html \
  $(S)/proveniens.html $(SITE_FILES) $(INDEX_INPUTS) $(B)/params/publish.txt
	@$(STEP) publish --sites "$(SITES)"

# Two passes: ingest first (it writes years.mk, which the second pass reads), then the rest.
.PHONY: publish _publish
publish: $(T)/ingest.stamp
	@$(MAKE) -f $(firstword $(MAKEFILE_LIST)) --no-print-directory _publish
_publish: $(T)/published.stamp
	@echo "sites: $(SITES)"
