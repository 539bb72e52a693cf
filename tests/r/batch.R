# Runs tests/r/oracle.R for several (year, outcome) pairs in one R session: R and the survey
# package load once instead of once per pair (1.1 s each). Each pair runs at the top level, as
# Rscript would run it (the oracle's models look their settings up there), with commandArgs()
# returning that pair's arguments; what a pair defined is removed before the next one.
# Usage: Rscript batch.R jobs.csv  (columns: respondents, register, year, outcome, out, panel)
suppressMessages(library(survey))
suppressMessages(library(MASS))
.jobs <- read.csv(commandArgs(trailingOnly = TRUE)[1], colClasses = "character")
.me <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
.oracle <- parse(file.path(dirname(.me), "oracle.R"), encoding = "UTF-8", keep.source = FALSE)
for (.i in seq_len(nrow(.jobs))) {
  .job <- unname(unlist(.jobs[.i, c("respondents", "register", "year", "outcome", "out", "panel")]))
  commandArgs <- function(trailingOnly = FALSE) .job
  for (.e in .oracle) eval(.e, globalenv())
  rm(list = ls(globalenv()), envir = globalenv())  # names starting with "." are kept
}
