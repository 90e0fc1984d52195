# metafor reference values for leave-one-out, influence diagnostics, Baujat, cumulative
# meta-analysis and GOSH (hiermeta.analyses.influence). Run from the repository root:
#   Rscript tests/reference/make_metafor_influence.R
# Writes tests/reference/metafor_influence.json at full precision (digits = NA).
suppressMessages({library(metafor); library(jsonlite)})
ctrl <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)  # tol: uniroot (PM)
num <- function(x) as.numeric(unname(x))

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg,
              slab = paste(author, year))
hack <- escalc(measure = "OR", ai = NULL, yi = yi, vi = vi, data = dat.hackshaw1998,
               slab = paste(author, year))
raud <- dat.raudenbush1985
raud$slab <- paste(raud$author, raud$year)
data <- list(
  bcg = data.frame(study = bcg$author, year = bcg$year, ablat = bcg$ablat, yi = num(bcg$yi), vi = num(bcg$vi)),
  hackshaw1998 = data.frame(study = hack$author, year = hack$year, yi = num(hack$yi), vi = num(hack$vi)),
  raudenbush1985 = data.frame(study = raud$author, year = raud$year, yi = num(raud$yi), vi = num(raud$vi))
)

fit <- function(d, method, test, mods = NULL) {
  if (is.null(mods)) rma(yi, vi, data = d, method = method, test = test, control = ctrl)
  else rma(yi, vi, mods = mods, data = d, method = method, test = test, control = ctrl)
}

cases <- list(
  list(dataset = "bcg", method = "REML", test = "z"),
  list(dataset = "bcg", method = "DL", test = "knha"),
  list(dataset = "bcg", method = "FE", test = "z"),
  list(dataset = "hackshaw1998", method = "REML", test = "z"),
  list(dataset = "raudenbush1985", method = "REML", test = "knha"),
  list(dataset = "raudenbush1985", method = "PM", test = "z")
)

l1o_out <- list(); infl_out <- list(); baujat_out <- list(); cumul_out <- list()
for (case in cases) {
  d <- data[[case$dataset]]
  r <- fit(d, case$method, case$test)
  id <- paste(case$dataset, case$method, case$test, sep = "_")
  l <- leave1out(r)
  l1o_out[[length(l1o_out) + 1]] <- c(case, list(id = id, estimate = num(l$estimate), se = num(l$se),
    ci_low = num(l$ci.lb), ci_high = num(l$ci.ub), pval = num(l$pval), Q = num(l$Q), Qp = num(l$Qp),
    tau2 = num(l$tau2), I2 = num(l$I2), H2 = num(l$H2)))
  inf <- influence(r)
  infl_out[[length(infl_out) + 1]] <- c(case, list(id = id, mods = NULL,
    rstudent = num(inf$inf$rstudent), dffits = num(inf$inf$dffits), cook_d = num(inf$inf$cook.d),
    cov_r = num(inf$inf$cov.r), tau2_del = num(inf$inf$tau2.del), QE_del = num(inf$inf$QE.del),
    hat = num(inf$inf$hat), weight = num(inf$inf$weight), dfbetas = lapply(unclass(dfbetas(r))[seq_len(r$p)], num),
    influential = inf$is.infl))
  b <- baujat(r, progbar = FALSE)
  baujat_out[[length(baujat_out) + 1]] <- c(case, list(id = id, x = num(b$x), y = num(b$y)))
  # metafor 3.8's cumul() takes a sort key (ties keep the data order); 'order' below is the
  # resulting order of study positions (0-based), as hiermeta takes it
  ord <- order(d$year, seq_len(nrow(d)))
  cm <- cumul(r, order = d$year)
  stopifnot(identical(as.character(cm$slab), as.character(seq_len(nrow(d))[ord])))
  cumul_out[[length(cumul_out) + 1]] <- c(case, list(id = id, order = ord - 1L,
    estimate = num(cm$estimate), se = num(cm$se), ci_low = num(cm$ci.lb), ci_high = num(cm$ci.ub),
    pval = num(cm$pval), Q = num(cm$Q), Qp = num(cm$Qp), tau2 = num(cm$tau2), I2 = num(cm$I2),
    H2 = num(cm$H2)))
}
# influence with a moderator (meta-regression)
for (case in list(list(dataset = "bcg", method = "REML", test = "z"),
                  list(dataset = "bcg", method = "REML", test = "knha"))) {
  d <- data[[case$dataset]]
  r <- fit(d, case$method, case$test, mods = ~ ablat)
  inf <- influence(r)
  infl_out[[length(infl_out) + 1]] <- c(case, list(id = paste("bcg_REML", case$test, "ablat", sep = "_"),
    mods = "ablat",
    rstudent = num(inf$inf$rstudent), dffits = num(inf$inf$dffits), cook_d = num(inf$inf$cook.d),
    cov_r = num(inf$inf$cov.r), tau2_del = num(inf$inf$tau2.del), QE_del = num(inf$inf$QE.del),
    hat = num(inf$inf$hat), weight = num(inf$inf$weight), dfbetas = lapply(unclass(dfbetas(r))[seq_len(r$p)], num),
    influential = inf$is.infl))
}
# GOSH: every subset of the first 8 BCG trials (255 subsets), FE and REML
gosh_out <- list()
d8 <- data$bcg[1:8, ]
for (method in c("FE", "REML")) {
  r <- rma(yi, vi, data = d8, method = method, control = ctrl)
  g <- gosh(r, subsets = 1e6, progbar = FALSE)
  bits <- apply(g$incl, 1, function(z) paste(as.integer(z), collapse = ""))
  gosh_out[[length(gosh_out) + 1]] <- list(method = method, k = 8, incl = unname(bits),
    estimate = num(g$res$estimate), QE = num(g$res$QE), I2 = num(g$res$I2), tau2 = num(g$res$tau2))
}
out <- list(
  R_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  script = "tests/reference/make_metafor_influence.R", control = ctrl,
  datasets = data, leave1out = l1o_out, influence = infl_out, baujat = baujat_out,
  cumul = cumul_out, gosh = gosh_out)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"),
           "tests/reference/metafor_influence.json")
