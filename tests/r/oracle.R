# Test oracle: the same estimates with R's survey package (Lumley), built independently from
# the processed respondents and the register file. Not part of the pipeline.
# R makes its own size classes, population bands, regions, base weights, calibrated design
# (calibrate(calfun = "raking") on the design and on its JKn replicate design: counts by band and
# region, ln(population) by size class), log size and change-resistance index.
# Usage: Rscript oracle.R respondents.csv municipalities_population.csv YEAR OUTCOME out.csv panel.csv
suppressMessages(library(survey))
suppressMessages(library(MASS))
args <- commandArgs(trailingOnly = TRUE)
year <- as.integer(args[3]); outcome <- args[4]
resp <- read.csv(args[1], colClasses = c(kommunenr = "character"), stringsAsFactors = FALSE)
reg <- read.csv(args[2], colClasses = c(kommunenr = "character", county_nr = "character"),
                stringsAsFactors = FALSE)

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

# Raking cells of the regions: while a cell has fewer than 5 respondents, the smallest (then
# the first by name) is merged with the bordering cell with the fewest respondents.
neighbours <- list("Østlandet" = c("Sørlandet", "Vestlandet", "Trøndelag"),
                   "Sørlandet" = c("Østlandet", "Vestlandet"),
                   "Vestlandet" = c("Sørlandet", "Østlandet", "Trøndelag"),
                   "Trøndelag" = c("Vestlandet", "Østlandet", "Nord-Norge"),
                   "Nord-Norge" = "Trøndelag")
region_cells <- function(counts) {
  cell <- setNames(names(counts), names(counts))
  repeat {
    cn <- tapply(as.numeric(counts[names(cell)]), cell, sum)
    if (length(cn) == 1 || all(cn >= 5)) break
    small <- names(cn)[cn < 5]
    small <- small[order(cn[small], small, method = "radix")][1]
    members <- names(cell)[cell == small]
    near <- setdiff(unique(cell[intersect(unlist(neighbours[members]), names(cell))]), small)
    if (length(near) == 0) near <- setdiff(names(cn), small)
    other <- near[order(cn[near], near, method = "radix")][1]
    both <- cell %in% c(small, other)
    cell[both] <- paste(sort(names(cell)[both], method = "radix"), collapse = "+")
  }
  cell
}

mat_items <- c("digital_plan_bygg", "digital_sykehjem", "digital_skole", "digital_sosial")
# One survey year's respondents with R's own derived variables, and its calibration totals.
prepare <- function(yr) {
  r <- resp[resp$year == yr, ]
  g <- reg[reg$year == yr, ]
  d <- merge(r[, unique(c("kommunenr", outcome, "suksess_tjenester", "endring_skeptiske",
                          "endring_rutiner", "endring_ledere", "rolle", mat_items))],
             g[, c("kommunenr", "population", "size_class", "region")], by = "kommunenr")
  stopifnot(nrow(d) == nrow(r))
  d$year <- yr
  d$y <- d[[outcome]]
  items <- d[, c("endring_skeptiske", "endring_rutiner", "endring_ledere")]
  d$cri_c <- ifelse(rowSums(!is.na(items)) >= 2, rowMeans(items, na.rm = TRUE), NA) - 3
  d$change_resistance <- d$cri_c + 3
  d$rolle[d$rolle == ""] <- NA  # read.csv reads an empty text cell as ""
  mat <- d[, mat_items]
  d$maturity <- ifelse(rowSums(!is.na(mat)) >= 3, rowMeans(mat, na.rm = TRUE), NA)
  d$ln_pop_c <- log(d$population) - log(10000)
  N_h <- table(g$size_class)
  d$N_h <- as.numeric(N_h[d$size_class])
  d$w_base <- d$N_h / as.numeric(table(d$size_class)[d$size_class])
  # Population bands inside the size classes (edges 2 000, 10 000, 50 000): an inner edge is
  # dropped while a band beside it has fewer than 5 respondents, the smallest band first.
  inner <- c(2000, 10000, 50000)
  repeat {
    edges <- sort(c(5000, 20000, inner))
    cnt <- tabulate(findInterval(d$population, edges) + 1, nbins = length(edges) + 1)
    m <- sapply(inner, function(e) { i <- match(e, edges); min(cnt[i], cnt[i + 1]) })
    if (length(inner) == 0 || all(m >= 5)) break
    inner <- inner[-order(m, inner)[1]]
  }
  cell <- region_cells(table(factor(d$region, levels = sort(unique(g$region)))))
  use_region <- length(unique(cell)) > 1
  # Auxiliaries of the calibration: the band, the region cell (the year's first cell as the
  # reference level "(ref)", so that several years' cells are not collinear), and ln(population)
  # within the size class. The register's municipalities get the same columns: their model
  # matrix sums are the population totals.
  aux <- function(x) {
    cr <- if (use_region) cell[x$region] else rep("*", nrow(x))
    first <- sort(unique(cell), method = "radix")[1]
    data.frame(cb = paste(yr, findInterval(x$population, edges)),
               cr = ifelse(use_region & cr != first, paste(yr, cr), "(ref)"),
               cc = paste(yr, x$size_class), lnpop = log(x$population))
  }
  d <- cbind(d, aux(d))
  list(d = d, frame = aux(g))
}
calibrated <- function(des, parts) {
  pop <- do.call(rbind, lapply(parts, `[[`, "frame"))
  lv <- lapply(c(cb = "cb", cr = "cr", cc = "cc"), function(v) sort(unique(pop[[v]]), method = "radix"))
  for (v in names(lv)) pop[[v]] <- factor(pop[[v]], levels = lv[[v]])
  des <- update(des, cb = factor(cb, levels = lv$cb), cr = factor(cr, levels = lv$cr),
                cc = factor(cc, levels = lv$cc))
  f <- if (length(lv$cr) > 1) ~ cb + cr + cc:lnpop else ~ cb + cc:lnpop
  calibrate(des, f, population = colSums(model.matrix(f, pop)), calfun = "raking",
            epsilon = 1e-13, maxit = 100)
}
# A subset of a calibrated svydesign keeps every row (weight 0 outside it, so that the
# calibration's residuals still line up), with values that svyglm would drop (missing) or fit
# (a year without answers as a factor level): outside the subset the variables are those of
# the first row inside it (their weight is zero). A replicate design drops the rows itself.
part <- function(des, keep) {
  s <- subset(des, keep)
  if (nrow(s$variables) == length(keep) && any(!keep))
    s$variables[!keep, ] <- s$variables[rep(which(keep)[1], sum(!keep)), ]
  s
}
this <- prepare(year)
d <- this$d
des <- calibrated(svydesign(ids = ~1, strata = ~size_class, fpc = ~N_h, weights = ~w_base, data = d), list(this))
des_nofpc <- calibrated(svydesign(ids = ~1, strata = ~size_class, weights = ~w_base, data = d), list(this))

out <- data.frame(name = character(), value = numeric())
put <- function(name, value) out[nrow(out) + 1, ] <<- list(name, as.numeric(value))
for (k in seq_len(nrow(d))) put(paste0("weight.", d$kommunenr[k]), weights(des)[k])

# Published: re-calibrated delete-one jackknife. The JKn replicate design of the same stratified
# design, each replicate calibrated again to the same totals (calibrate() on a replicate design
# does that); the variance is centred on the mean of the replicates (mse = FALSE, R's default).
# Logit interval from the SE (delta method) with t on the domain's degrees of freedom:
# respondents with an answer less the strata they fall in.
rdes <- calibrated(as.svrepdesign(svydesign(ids = ~1, strata = ~size_class, fpc = ~N_h,
                                       weights = ~w_base, data = d), type = "JKn", mse = FALSE), list(this))
rdes_nofpc <- calibrated(as.svrepdesign(svydesign(ids = ~1, strata = ~size_class, weights = ~w_base, data = d),
                                   type = "JKn", mse = FALSE), list(this))
logit_ci <- function(p, se, df) plogis(qlogis(p) + c(-1, 1) * qt(0.975, df) * se / (p * (1 - p)))
jk_share <- function(prefix, keep) {
  m <- svymean(~y, subset(rdes, keep), na.rm = TRUE)
  df <- sum(keep) - length(unique(d$size_class[keep]))
  ci <- logit_ci(coef(m), SE(m), df)
  put(paste0(prefix, ".estimate"), coef(m)); put(paste0(prefix, ".se"), SE(m))
  put(paste0(prefix, ".ci_low"), ci[1]); put(paste0(prefix, ".ci_high"), ci[2])
}
jk_share("all", !is.na(d$y))
for (h in sort(unique(d$size_class))) jk_share(h, !is.na(d$y) & d$size_class == h)
# A class difference is the class coefficient of a saturated linear model against the other
# class as reference: the same estimating equations as the contrast of the two domain means
# (svyby(covmat = TRUE) fails on a subset of a calibrated design in survey 4.1). On the replicate
# design svyglm refits it in every replicate.
ry <- subset(rdes, !is.na(y))
for (pair in list(c("large", "small"), c("large", "medium"), c("medium", "small"))) {
  ry$variables$cls <- factor(ry$variables$size_class,
                             levels = c(pair[2], setdiff(c("small", "medium", "large"), pair[2])))
  cc <- svyglm(y ~ cls, design = ry)
  nm <- paste0(pair[1], "-", pair[2])
  put(paste0(nm, ".estimate"), coef(cc)[paste0("cls", pair[1])])
  put(paste0(nm, ".se"), SE(cc)[paste0("cls", pair[1])])
}

# Taylor linearisation with the calibration residuals swept out (calibrate() on the svydesign), the
# variance the pages published before the jackknife: estimates.by_size_class(variance = "taylor").
dy <- part(des, !is.na(d$y))
m <- svymean(~y, dy, na.rm = TRUE)
put("taylor.all.estimate", coef(m)); put("taylor.all.se", SE(m))
ci <- svyciprop(~y, dy, method = "logit")
put("taylor.all.ci_low", attr(ci, "ci")[1]); put("taylor.all.ci_high", attr(ci, "ci")[2])
for (h in sort(unique(d$size_class))) {
  dh <- part(des, !is.na(d$y) & d$size_class == h)
  mh <- svymean(~y, dh, na.rm = TRUE)
  put(paste0("taylor.", h, ".estimate"), coef(mh)); put(paste0("taylor.", h, ".se"), SE(mh))
  cih <- svyciprop(~y, dh, method = "logit")
  put(paste0("taylor.", h, ".ci_low"), attr(cih, "ci")[1])
  put(paste0("taylor.", h, ".ci_high"), attr(cih, "ci")[2])
}
for (pair in list(c("large", "small"), c("large", "medium"), c("medium", "small"))) {
  dy$variables$cls <- factor(dy$variables$size_class,
                             levels = c(pair[2], setdiff(c("small", "medium", "large"), pair[2])))
  cc <- svyglm(y ~ cls, design = dy)
  nm <- paste0("taylor.", pair[1], "-", pair[2])
  put(paste0(nm, ".estimate"), coef(cc)[paste0("cls", pair[1])])
  put(paste0(nm, ".se"), SE(cc)[paste0("cls", pair[1])])
}
# Models: refitted in every replicate of the JKn design without FPC (published), and by
# linearisation ("taylor.").
ctl <- glm.control(epsilon = 1e-14, maxit = 100)
for (v in list(list("", subset(rdes_nofpc, !is.na(y) & !is.na(cri_c))),
               list("taylor.", part(des_nofpc, !is.na(d$y) & !is.na(d$cri_c))))) {
  g <- svyglm(y ~ ln_pop_c + cri_c, design = v[[2]], family = quasibinomial(), control = ctl)
  for (t in names(coef(g))) {
    put(paste0(v[[1]], "glm.", t, ".coef"), coef(g)[t]); put(paste0(v[[1]], "glm.", t, ".se"), SE(g)[t])
  }
  g4 <- svyglm(y ~ ln_pop_c * cri_c, design = v[[2]], family = quasibinomial(), control = ctl)
  for (t in names(coef(g4))) {
    put(paste0(v[[1]], "glm4.", t, ".coef"), coef(g4)[t]); put(paste0(v[[1]], "glm4.", t, ".se"), SE(g4)[t])
  }
}
fit <- part(des_nofpc, !is.na(d$y) & !is.na(d$cri_c))

# Every model of the regression page for the outcome ("y") and for digital maturity (linear),
# on the replicate design ("jk.") and linearised ("taylor."); coefficients named as the
# pipeline's term ids ("rolle[IKT-leder]"). Average marginal effects of the numeric terms:
# the weighted mean over the fit's rows of the total derivative of the prediction, its SE by
# the delta method on the coefficients' covariance (gradient written out here).
specs <- list(M1 = ~ ln_pop_c + cri_c, M2 = ~ ln_pop_c + cri_c + rolle + region,
              M3 = ~ cls3 + cri_c, M4 = ~ ln_pop_c * cri_c)
term_id <- function(nm) {
  nm <- sub("^\\(Intercept\\)$", "Intercept", nm)
  for (v in c("rolle", "region", "cls3")) {
    hit <- startsWith(nm, v) & nm != v
    nm[hit] <- paste0(if (v == "cls3") "size_class" else v, "[", substring(nm[hit], nchar(v) + 1), "]")
  }
  nm
}
ame <- function(g, term) {
  X <- model.matrix(g); b <- coef(g); w <- g$prior.weights
  eta <- drop(X %*% b); fam <- family(g)
  dmu <- fam$mu.eta(eta)
  d2mu <- if (fam$family == "gaussian") 0 * eta else dmu * (1 - 2 * fam$linkinv(eta))
  other <- setdiff(c("ln_pop_c", "cri_c"), term)
  slope <- b[term] + if ("ln_pop_c:cri_c" %in% names(b)) b["ln_pop_c:cri_c"] * X[, other] else 0
  grad <- colSums(w * d2mu * slope * X) / sum(w)
  grad[term] <- grad[term] + sum(w * dmu) / sum(w)
  if ("ln_pop_c:cri_c" %in% names(b)) grad["ln_pop_c:cri_c"] <- grad["ln_pop_c:cri_c"] + sum(w * dmu * X[, other]) / sum(w)
  c(sum(w * dmu * slope) / sum(w), sqrt(drop(t(grad) %*% vcov(g) %*% grad)))
}
for (rv in c("y", "maturity")) {
  fam <- if (rv == "y") quasibinomial() else gaussian()
  for (v in list(list("jk.", rdes_nofpc), list("taylor.", des_nofpc))) {
    for (m in names(specs)) {
      dv <- v[[2]]$variables
      ok <- !is.na(dv[[rv]]) & !is.na(dv$cri_c) & (m != "M2" | !is.na(dv$rolle))
      roles <- unique(dv$rolle[ok])
      regions <- unique(dv$region[ok])
      des_m <- update(v[[2]], rolle = factor(rolle, levels = c("Rådmann/kommunedirektør", setdiff(roles, "Rådmann/kommunedirektør"))),
                      region = factor(region, levels = c("Østlandet", setdiff(regions, "Østlandet"))),
                      cls3 = factor(size_class, levels = c("small", "medium", "large")))
      f <- update(specs[[m]], as.formula(paste(rv, "~ .")))
      g <- suppressWarnings(svyglm(f, design = part(des_m, ok), family = fam, control = ctl))
      pre <- paste0(v[[1]], rv, ".", m, ".")
      for (k in seq_along(coef(g))) {
        put(paste0(pre, term_id(names(coef(g)))[k], ".coef"), coef(g)[k])
        put(paste0(pre, term_id(names(coef(g)))[k], ".se"), SE(g)[k])
      }
      if (m == "M3" && rv == "y") {  # predicted shares by size class along the index
        grid <- expand.grid(cri = seq(1, 5, by = 0.5), cls3 = c("small", "medium", "large"))
        grid$cri_c <- grid$cri - 3
        grid$cls3 <- factor(grid$cls3, levels = c("small", "medium", "large"))
        Xn <- model.matrix(~ cls3 + cri_c, grid)[, names(coef(g))]  # (predict.svyrepglm's SE is
        eta <- drop(Xn %*% coef(g))                                  # NaN in some years)
        se_eta <- sqrt(rowSums((Xn %*% vcov(g)) * Xn))
        q <- qt(0.975, sum(ok) - length(unique(dv$size_class[ok])) - (length(coef(g)) - 1))
        key <- paste0(v[[1]], "pred.", grid$cls3, ".", sprintf("%.1f", grid$cri))
        for (k in seq_along(key)) {
          p <- plogis(eta[k])
          put(paste0(key[k], ".estimate"), p); put(paste0(key[k], ".se"), se_eta[k] * p * (1 - p))
          put(paste0(key[k], ".ci_low"), plogis(eta[k] - q * se_eta[k]))
          put(paste0(key[k], ".ci_high"), plogis(eta[k] + q * se_eta[k]))
        }
      }
      if (m != "M3") for (term in c("ln_pop_c", "cri_c")) {
        a <- ame(g, term)
        put(paste0(pre, "ame.", term, ".estimate"), a[1]); put(paste0(pre, "ame.", term, ".se"), a[2])
      }
    }
  }
}
# Index means, all and by size class (published: jackknife, t interval on the domain's df).
for (idx in c("change_resistance", "maturity")) {
  for (h in c("all", sort(unique(d$size_class)))) {
    keep <- !is.na(d[[idx]]) & (h == "all" | d$size_class == h)
    mm <- svymean(as.formula(paste0("~", idx)), subset(rdes, keep), na.rm = TRUE)
    df <- sum(keep) - length(unique(d$size_class[keep]))
    put(paste0("idx.", idx, ".", h, ".estimate"), coef(mm)); put(paste0("idx.", idx, ".", h, ".se"), SE(mm))
    put(paste0("idx.", idx, ".", h, ".ci_low"), coef(mm) - qt(0.975, df) * SE(mm))
    put(paste0("idx.", idx, ".", h, ".ci_high"), coef(mm) + qt(0.975, df) * SE(mm))
  }
}

# Survey-weighted ordered logit of the five-point success item (MASS polr inside svyolr). Rows
# outside the fit keep a placeholder answer: their weight in the subset is zero.
ok <- !is.na(d$suksess_tjenester) & !is.na(d$cri_c)
des_nofpc$variables$s5 <- factor(ifelse(ok, d$suksess_tjenester, 1))
des_nofpc$variables$cri_ok <- ifelse(ok, d$cri_c, 0)
olr <- svyolr(s5 ~ ln_pop_c + cri_ok, part(des_nofpc, ok), control = list(reltol = 1e-15, maxit = 10000))
for (t in c("ln_pop_c", "cri_ok")) {
  put(paste0("olr.", sub("cri_ok", "cri_c", t), ".coef"), coef(olr)[t])
  put(paste0("olr.", sub("cri_ok", "cri_c", t), ".se"), SE(olr)[t])
}

# Change from the survey year before: both years on one design with the municipality followed
# across the reforms as PSU (panel ids from the pipeline's linkage), calibrated to each year's
# totals; the change is the year coefficient of a saturated linear model.
if (any(!is.na(resp[resp$year == year - 1, outcome]))) {
  panel <- read.csv(args[6], colClasses = c(kommunenr = "character", panel_id = "character"))
  before <- prepare(year - 1)
  both <- rbind(before$d, d)
  both <- merge(both, panel, by = c("year", "kommunenr"))
  stopifnot(nrow(both) == nrow(before$d) + nrow(d))
  pooled <- calibrated(svydesign(ids = ~panel_id, weights = ~w_base, data = both), list(before, this))
  ch <- svyglm(y ~ factor(year), design = part(pooled, !is.na(both$y)))
  put("change.estimate", coef(ch)[2]); put("change.se", SE(ch)[2])
}
# The pooled model of every year (in the call for the last year): the municipality followed
# across the reforms as PSU, calibrated to each year's totals, year as a factor (Taylor).
if (year == max(resp$year)) {
  panel <- read.csv(args[6], colClasses = c(kommunenr = "character", panel_id = "character"))
  parts <- lapply(sort(unique(resp$year)), prepare)
  all <- merge(do.call(rbind, lapply(parts, `[[`, "d")), panel, by = c("year", "kommunenr"))
  stopifnot(nrow(all) == nrow(resp))
  pdes <- calibrated(svydesign(ids = ~panel_id, weights = ~w_base, data = all), parts)
  for (rv in c("y", "maturity")) {
    ok <- !is.na(all[[rv]]) & !is.na(all$cri_c)
    g <- svyglm(as.formula(paste(rv, "~ ln_pop_c + cri_c + factor(year)")), part(pdes, ok),
                family = if (rv == "y") quasibinomial() else gaussian(), control = ctl)
    nm <- sub("^factor\\(year\\)(\\d+)$", "year[\\1]", term_id(names(coef(g))))
    for (k in seq_along(nm)) {
      put(paste0("pooled.", rv, ".", nm[k], ".coef"), coef(g)[k])
      put(paste0("pooled.", rv, ".", nm[k], ".se"), SE(g)[k])
    }
  }
}
write.csv(out, args[5], row.names = FALSE)
