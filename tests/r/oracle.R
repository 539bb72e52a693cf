# Test oracle: the same estimates with R's survey package (Lumley). Not part of the pipeline.
# Usage: Rscript oracle.R data.csv out.csv
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
des <- svydesign(ids = ~1, strata = ~size_class, fpc = ~N_h, weights = ~w, data = d)
out <- data.frame(name = character(), value = numeric())
put <- function(name, value) out[nrow(out) + 1, ] <<- list(name, as.numeric(value))

dy <- subset(des, !is.na(y))
m <- svymean(~y, dy)
put("all.estimate", coef(m)); put("all.se", SE(m))
ci <- svyciprop(~y, dy, method = "logit")
put("all.ci_low", attr(ci, "ci")[1]); put("all.ci_high", attr(ci, "ci")[2])
for (h in sort(unique(d$size_class))) {
  dh <- subset(des, !is.na(y) & size_class == h)
  mh <- svymean(~y, dh)
  put(paste0(h, ".estimate"), coef(mh)); put(paste0(h, ".se"), SE(mh))
  cih <- svyciprop(~y, dh, method = "logit")
  put(paste0(h, ".ci_low"), attr(cih, "ci")[1]); put(paste0(h, ".ci_high"), attr(cih, "ci")[2])
}
des_nofpc <- svydesign(ids = ~1, strata = ~size_class, weights = ~w, data = d)
g <- svyglm(y ~ ln_pop_c + cri_c, design = subset(des_nofpc, !is.na(y) & !is.na(cri_c)),
            family = quasibinomial(), control = glm.control(epsilon = 1e-14, maxit = 100))
for (t in names(coef(g))) { put(paste0("glm.", t, ".coef"), coef(g)[t]); put(paste0("glm.", t, ".se"), SE(g)[t]) }
g4 <- svyglm(y ~ ln_pop_c * cri_c, design = subset(des_nofpc, !is.na(y) & !is.na(cri_c)),
             family = quasibinomial(), control = glm.control(epsilon = 1e-14, maxit = 100))
for (t in names(coef(g4))) { put(paste0("glm4.", t, ".coef"), coef(g4)[t]); put(paste0("glm4.", t, ".se"), SE(g4)[t]) }
write.csv(out, args[2], row.names = FALSE)
