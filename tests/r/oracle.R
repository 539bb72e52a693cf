# Test oracle: the same estimates with R's survey package (Lumley), built independently from
# the processed respondents and the register file. Not part of the pipeline.
# R makes its own size classes, regions, base weights, raked design (rake() on the design,
# so the variance sweeps out the calibration), log size and change-resistance index.
# Usage: Rscript oracle.R respondents.csv municipalities_population.csv YEAR OUTCOME out.csv
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
year <- as.integer(args[3]); outcome <- args[4]
resp <- read.csv(args[1], colClasses = c(kommunenr = "character"), stringsAsFactors = FALSE)
resp <- resp[resp$year == year, ]
reg <- read.csv(args[2], colClasses = c(kommunenr = "character", county_nr = "character"),
                stringsAsFactors = FALSE)
reg <- reg[reg$year == year, ]

# Landsdel of each county number (SSB's regional division), written here independently.
landsdel <- c(
  setNames(rep("Østlandet", 16), c("01", "02", "03", "04", "05", "06", "07", "08", "30", "31",
                                   "32", "33", "34", "38", "39", "40")),
  setNames(rep("Sørlandet", 3), c("09", "10", "42")),
  setNames(rep("Vestlandet", 5), c("11", "12", "14", "15", "46")),
  setNames(rep("Trøndelag", 3), c("16", "17", "50")),
  setNames(rep("Nord-Norge", 6), c("18", "19", "20", "54", "55", "56")))
klass <- function(pop) ifelse(pop < 5000, "small", ifelse(pop < 20000, "medium", "large"))
reg$size_class <- klass(reg$population)
reg$region <- unname(landsdel[reg$county_nr])
stopifnot(!anyNA(reg$region))

d <- merge(resp[, c("kommunenr", outcome, "endring_skeptiske", "endring_rutiner", "endring_ledere")],
           reg[, c("kommunenr", "population", "size_class", "region")], by = "kommunenr")
stopifnot(nrow(d) == nrow(resp))
d$y <- d[[outcome]]
items <- d[, c("endring_skeptiske", "endring_rutiner", "endring_ledere")]
d$cri_c <- ifelse(rowSums(!is.na(items)) >= 2, rowMeans(items, na.rm = TRUE), NA) - 3
d$ln_pop_c <- log(d$population) - log(10000)
N_h <- table(reg$size_class)
d$N_h <- as.numeric(N_h[d$size_class])
d$w_base <- d$N_h / as.numeric(table(d$size_class)[d$size_class])

pop_class <- data.frame(size_class = names(N_h), Freq = as.numeric(N_h))
reg_n <- table(reg$region)
pop_region <- data.frame(region = names(reg_n), Freq = as.numeric(reg_n))
raked <- function(des) {
  if (all(table(factor(d$region, levels = names(reg_n))) >= 2)) {
    rake(des, list(~size_class, ~region), list(pop_class, pop_region),
         control = list(maxit = 1000, epsilon = 1e-13, verbose = FALSE))
  } else {
    postStratify(des, ~size_class, pop_class)
  }
}
des <- raked(svydesign(ids = ~1, strata = ~size_class, fpc = ~N_h, weights = ~w_base, data = d))
des_nofpc <- raked(svydesign(ids = ~1, strata = ~size_class, weights = ~w_base, data = d))

out <- data.frame(name = character(), value = numeric())
put <- function(name, value) out[nrow(out) + 1, ] <<- list(name, as.numeric(value))
for (k in seq_len(nrow(d))) put(paste0("weight.", d$kommunenr[k]), weights(des)[k])

dy <- subset(des, !is.na(y))
m <- svymean(~y, dy, na.rm = TRUE)
put("all.estimate", coef(m)); put("all.se", SE(m))
ci <- svyciprop(~y, dy, method = "logit")
put("all.ci_low", attr(ci, "ci")[1]); put("all.ci_high", attr(ci, "ci")[2])
for (h in sort(unique(d$size_class))) {
  dh <- subset(des, !is.na(y) & size_class == h)
  mh <- svymean(~y, dh, na.rm = TRUE)
  put(paste0(h, ".estimate"), coef(mh)); put(paste0(h, ".se"), SE(mh))
  cih <- svyciprop(~y, dh, method = "logit")
  put(paste0(h, ".ci_low"), attr(cih, "ci")[1]); put(paste0(h, ".ci_high"), attr(cih, "ci")[2])
}
# A class difference is the class coefficient of a saturated linear model against the other
# class as reference: the same estimating equations as the contrast of the two domain means
# (svyby(covmat = TRUE) fails on a subset of a raked design in survey 4.1).
for (pair in list(c("large", "small"), c("large", "medium"), c("medium", "small"))) {
  dy$variables$cls <- factor(dy$variables$size_class,
                             levels = c(pair[2], setdiff(c("small", "medium", "large"), pair[2])))
  cc <- svyglm(y ~ cls, design = dy)
  nm <- paste0(pair[1], "-", pair[2])
  put(paste0(nm, ".estimate"), coef(cc)[paste0("cls", pair[1])])
  put(paste0(nm, ".se"), SE(cc)[paste0("cls", pair[1])])
}
ctl <- glm.control(epsilon = 1e-14, maxit = 100)
fit <- subset(des_nofpc, !is.na(y) & !is.na(cri_c))
g <- svyglm(y ~ ln_pop_c + cri_c, design = fit, family = quasibinomial(), control = ctl)
for (t in names(coef(g))) { put(paste0("glm.", t, ".coef"), coef(g)[t]); put(paste0("glm.", t, ".se"), SE(g)[t]) }
g4 <- svyglm(y ~ ln_pop_c * cri_c, design = fit, family = quasibinomial(), control = ctl)
for (t in names(coef(g4))) { put(paste0("glm4.", t, ".coef"), coef(g4)[t]); put(paste0("glm4.", t, ".se"), SE(g4)[t]) }
write.csv(out, args[5], row.names = FALSE)
