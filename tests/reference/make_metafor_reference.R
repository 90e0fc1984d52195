# Generate reference values from R/metafor for the hiermeta test suite.
#
# Run from the repository root:
#     Rscript tests/reference/make_metafor_reference.R
# Writes tests/reference/metafor_reference.json.
#
# Requires (Debian): r-base-core r-cran-metafor r-cran-metadat r-cran-jsonlite

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

script_path <- "tests/reference/make_metafor_reference.R"
out_path <- "tests/reference/metafor_reference.json"

# Convergence settings: Fisher-scoring (ML/REML/EB) stops when |change in tau2| <= threshold;
# 'tol' is the uniroot() tolerance used by rma.uni for PM (and by the ML/REML ll0 check);
# names verified against metafor:::rma.uni (con <- list(..., threshold, tol, maxiter, ...)).
CTRL <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)
# confint.rma.uni accepts control = list(tol, maxiter, tau2.min, tau2.max, verbose); tol is passed to uniroot().
CI_CTRL <- list(tol = 1e-12, maxiter = 10000)

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

# Evaluate expr, collecting warnings (muffled) and turning an error into a record.
capture <- function(expr) {
  warns <- character(0)
  val <- withCallingHandlers(
    tryCatch(expr, error = function(e) structure(list(message = conditionMessage(e)), class = "captured_error")),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  list(value = val, warnings = warns, error = if (inherits(val, "captured_error")) val$message else NULL)
}

num <- function(x) {
  # plain numeric vector without names/attributes; NaN/NA become JSON null
  if (is.null(x)) return(NULL)
  x <- as.numeric(x)
  x[is.nan(x)] <- NA
  x
}

scalar <- function(x) {
  if (is.null(x) || length(x) == 0) return(NULL)
  x <- num(x)[1]
  if (is.na(x)) NA else x
}

`%||%` <- function(a, b) if (is.null(a)) b else a

# array that stays a JSON array even when it has length 1 (auto_unbox would otherwise make it a scalar)
arr <- function(x) I(num(x))
arr_chr <- function(x) I(as.character(x))

fit_rma <- function(dat, method, test, mods = NULL) {
  if (is.null(mods)) {
    rma(yi, vi, data = dat, method = method, test = test, control = CTRL)
  } else {
    rma(yi, vi, mods = as.formula(mods), data = dat, method = method, test = test, control = CTRL)
  }
}

# Prediction intervals for an intercept-only fit computed from the fit's own se (so a knha fit uses the
# Knapp-Hartung se): estimate +/- crit * sqrt(se^2 + tau2); "z" uses qnorm(0.975),
# "t-k-1"/"t-k-2" use qt(0.975, df) with df = k-1 / k-2 (null when df < 1).
pi_kinds <- function(est, se, tau2, k) {
  half <- function(crit) crit * sqrt(se^2 + tau2)
  mk <- function(crit) if (is.na(crit)) c(NA, NA) else c(est - half(crit), est + half(crit))
  qt_or_na <- function(df) if (df >= 1) qt(0.975, df) else NA
  list(z = mk(qnorm(0.975)), `t-k-1` = mk(qt_or_na(k - 1)), `t-k-2` = mk(qt_or_na(k - 2)))
}

make_fit_entry <- function(id, dataset, dat, method, test, mods = NULL) {
  entry <- list(id = id, dataset = dataset, method = method, test = test, mods = mods)
  cap <- capture(fit_rma(dat, method, test, mods))
  if (length(cap$warnings)) entry$warnings <- cap$warnings
  if (!is.null(cap$error)) {
    entry$error <- cap$error
    return(entry)
  }
  f <- cap$value
  int_only <- isTRUE(f$int.only)
  knha <- f$test != "z"
  if (f$test != test) entry$test_used <- f$test  # e.g. metafor switches to test="z" when k = 1

  entry$k <- f$k
  entry$p <- f$p
  if (int_only) {
    entry$estimate <- scalar(f$beta)
    entry$se <- scalar(f$se)
    entry$ci_low <- scalar(f$ci.lb)
    entry$ci_high <- scalar(f$ci.ub)
    entry$stat <- scalar(f$zval)
    entry$pval <- scalar(f$pval)
  } else {
    # pooled-value fields are null for meta-regressions (see "coefficients")
    for (nm in c("estimate", "se", "ci_low", "ci_high", "stat", "pval")) entry[nm] <- list(NULL)
  }
  entry$tau2 <- scalar(f$tau2)
  entry$se_tau2 <- scalar(f$se.tau2)       # NA (-> null) for FE
  entry$i2 <- scalar(f$I2)
  entry$h2 <- scalar(f$H2)
  entry$q <- scalar(f$QE)
  entry$q_df <- f$k - f$p
  entry$q_p <- scalar(f$QEp)
  entry$vt <- scalar(f$vt)                 # metafor's "typical" within-study variance used for I2/H2
  entry$s2w <- scalar(f$s2w)               # Knapp-Hartung scale factor (1 for test = "z")
  entry$ddf <- scalar(f$ddf)               # df of t-tests (null for test = "z")

  if (int_only) {
    ci <- capture(confint(f, control = CI_CTRL))
    if (is.null(ci$error)) {
      r <- ci$value$random
      entry$tau2_ci <- num(r["tau^2", c("ci.lb", "ci.ub")])
      entry$i2_ci <- num(r["I^2(%)", c("ci.lb", "ci.ub")])
      entry$h2_ci <- num(r["H^2", c("ci.lb", "ci.ub")])
      entry$tau2_ci_null <- isTRUE(ci$value$ci.null)
      # "<" / ">" flag a bound that was not found by uniroot but set to the search limit (tau2.min / tau2.max)
      entry$tau2_ci_signs <- I(c(ci$value$lb.sign, ci$value$ub.sign))
      entry$tau2_ci_search <- I(c(ci$value$tau2.min, CI_CTRL$tau2.max %||% max(100, 10 * f$tau2)))
      if (length(ci$warnings)) entry$confint_warnings <- ci$warnings
    } else {
      for (nm in c("tau2_ci", "i2_ci", "h2_ci")) entry[nm] <- list(NULL)
      entry$confint_error <- ci$error
    }
    entry$pi <- pi_kinds(entry$estimate, entry$se, entry$tau2, f$k)
  }

  pr <- capture(predict(f))
  if (is.null(pr$error)) {
    pv <- pr$value
    if (int_only && is.null(pv$pi.lb)) {
      # predict() drops pi.lb/pi.ub for FE models (tau2 = 0 by definition; the PI would equal the CI)
      entry["pi_metafor"] <- list(NULL)
    } else if (int_only) {
      # metafor's own default PI: qnorm for test="z", qt(k-p) for knha, with vb from the fit and + tau2
      entry$pi_metafor <- c(num(pv$pi.lb), num(pv$pi.ub))
      if (!knha) {
        # check that the "z" kind is what predict() returns for a test="z" fit
        stopifnot(isTRUE(all.equal(entry$pi$z, entry$pi_metafor, tolerance = 1e-12)))
        # cross-check the t kinds against predict(pi.type = "t") (df = k-p) and "riley" (df = k-p-1)
        if (f$k >= 3) {
          pt_ <- predict(f, pi.type = "t"); pr_ <- predict(f, pi.type = "riley")
          stopifnot(isTRUE(all.equal(entry$pi$`t-k-1`, c(pt_$pi.lb, pt_$pi.ub), tolerance = 1e-12)))
          stopifnot(isTRUE(all.equal(entry$pi$`t-k-2`, c(pr_$pi.lb, pr_$pi.ub), tolerance = 1e-12)))
        }
      } else {
        stopifnot(isTRUE(all.equal(entry$pi$`t-k-1`, entry$pi_metafor, tolerance = 1e-12)))
      }
    } else {
      # meta-regression: predict() gives fitted values per study (data order), no single PI
      entry["pi_metafor"] <- list(NULL)
      entry$predict_metafor <- list(pred = num(pv$pred), se = num(pv$se), ci_lb = num(pv$ci.lb),
                                    ci_ub = num(pv$ci.ub), pi_lb = num(pv$pi.lb), pi_ub = num(pv$pi.ub))
    }
  } else {
    entry["pi_metafor"] <- list(NULL)
    entry$predict_error <- pr$error
  }

  coefs <- list()
  for (j in seq_len(f$p)) {
    coefs[[j]] <- list(name = rownames(f$beta)[j], estimate = num(f$beta[j]), se = num(f$se[j]),
                       ci_low = num(f$ci.lb[j]), ci_high = num(f$ci.ub[j]),
                       stat = num(f$zval[j]), pval = num(f$pval[j]))
  }
  entry$coefficients <- coefs
  # omnibus test of all non-intercept coefficients (for intercept-only fits it tests the intercept: = stat^2)
  entry$qm <- scalar(f$QM)
  entry$qm_df <- if (knha) arr(f$QMdf) else num(f$QMdf[1])  # [df1, df2] for the F-test (knha), df for chi^2
  entry$qm_p <- scalar(f$QMp)
  entry["r2"] <- list(if (is.null(f$R2)) NULL else scalar(f$R2))  # null for intercept-only fits
  entry
}

# ---------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg$study <- paste(bcg$author, bcg$year)
hack <- dat.hackshaw1998
hack$study_label <- paste(hack$author, hack$year)
konst <- dat.konstantopoulos2011
raud <- dat.raudenbush1985
raud$study_label <- paste(raud$author, raud$year)
bcg_k2 <- bcg[c(1, 2), ]
bcg_k1 <- bcg[1, , drop = FALSE]
homog3 <- data.frame(study = c("H1", "H2", "H3"), yi = c(0.1, 0.12, 0.09), vi = c(0.04, 0.05, 0.03))

ds_bcg <- function(d) list(study = arr_chr(d$study), yi = arr(d$yi), vi = arr(d$vi), ablat = arr(d$ablat),
                           year = arr(d$year), alloc = arr_chr(d$alloc),
                           tpos = arr(d$tpos), tneg = arr(d$tneg), cpos = arr(d$cpos), cneg = arr(d$cneg))
datasets <- list(
  bcg = ds_bcg(bcg),
  hackshaw1998 = list(study = hack$study_label, yi = num(hack$yi), vi = num(hack$vi)),
  konstantopoulos2011 = list(study = as.character(konst$study), yi = num(konst$yi), vi = num(konst$vi),
                             district = num(konst$district), school = num(konst$school), year = num(konst$year)),
  raudenbush1985 = list(study = raud$study_label, yi = num(raud$yi), vi = num(raud$vi)),
  bcg_k2 = ds_bcg(bcg_k2),
  bcg_k1 = ds_bcg(bcg_k1),
  homog3 = list(study = homog3$study, yi = homog3$yi, vi = homog3$vi)
)

# ---------------------------------------------------------------------------
# fits
# ---------------------------------------------------------------------------

fits <- list()
add_fit <- function(dataset, dat, method, test, mods = NULL, id = NULL) {
  if (is.null(id)) {
    mtag <- if (is.null(mods)) "" else paste0("_", gsub("[^A-Za-z0-9]+", "_", gsub("^~\\s*", "", mods)))
    mtag <- sub("_$", "", mtag)
    id <- paste0(dataset, "_", method, "_", test, mtag)
  }
  e <- make_fit_entry(id, dataset, dat, method, test, mods)
  fits[[length(fits) + 1]] <<- e
  if (!is.null(e$error)) cat("FIT ERROR:", id, ":", e$error, "\n")
  if (!is.null(e$warnings)) cat("fit warning:", id, ":", paste(e$warnings, collapse = " | "), "\n")
  invisible(e)
}

all_methods <- c("FE", "DL", "REML", "ML", "PM", "EB", "SJ", "HS", "HE")
tests <- c("z", "knha")

# 1. dat.bcg
for (m in all_methods) for (t in tests) add_fit("bcg", bcg, m, t)  # FE + knha is allowed by metafor (with a warning)
for (mods in c("~ ablat", "~ factor(alloc)", "~ ablat + year", "~ ablat + factor(alloc)"))
  for (m in c("REML", "DL")) for (t in tests) add_fit("bcg", bcg, m, t, mods)

# 3. dat.hackshaw1998
for (m in c("FE", "DL", "REML", "PM", "SJ", "HS")) for (t in tests) add_fit("hackshaw1998", hack, m, t)

# 4. dat.konstantopoulos2011
for (m in c("REML", "DL", "ML", "PM")) for (t in tests) add_fit("konstantopoulos2011", konst, m, t)
for (t in tests) add_fit("konstantopoulos2011", konst, "REML", t, "~ year")

# 5. dat.raudenbush1985
for (m in all_methods) add_fit("raudenbush1985", raud, m, "z")
add_fit("raudenbush1985", raud, "REML", "knha")

# 6. boundary cases
# (a)+(b) first two rows of dat.bcg: Q = 0.93 < k-1, so DL and REML both give tau2 = 0 exactly
for (m in c("REML", "DL", "ML", "PM", "SJ", "HS", "HE", "EB")) add_fit("bcg_k2", bcg_k2, m, "z")
for (m in c("REML", "DL")) add_fit("bcg_k2", bcg_k2, m, "knha")
# (a') constructed homogeneous k = 3 set (tau2 = 0 for DL and REML, knha df = 2)
for (m in c("REML", "DL")) for (t in tests) add_fit("homog3", homog3, m, t)
# (c) k = 1
for (m in c("FE", "REML")) add_fit("bcg_k1", bcg_k1, m, "z")
add_fit("bcg_k1", bcg_k1, "REML", "knha")

# ---------------------------------------------------------------------------
# 2. subgroups
# ---------------------------------------------------------------------------

subgroups <- list()
levels_alloc <- sort(unique(as.character(bcg$alloc)))
for (m in c("REML", "DL")) {
  est <- se <- numeric(0)
  for (lv in levels_alloc) {
    cap <- capture(rma(yi, vi, data = bcg, subset = alloc == lv, method = m, control = CTRL))
    f <- cap$value
    e <- list(dataset = "bcg", by = "alloc", method = m, level = lv, k = f$k,
              estimate = scalar(f$beta), se = scalar(f$se), ci_low = scalar(f$ci.lb), ci_high = scalar(f$ci.ub),
              stat = scalar(f$zval), pval = scalar(f$pval),
              tau2 = scalar(f$tau2), se_tau2 = scalar(f$se.tau2), q = scalar(f$QE), q_df = f$k - 1,
              q_p = scalar(f$QEp), i2 = scalar(f$I2), h2 = scalar(f$H2))
    if (length(cap$warnings)) e$warnings <- cap$warnings
    subgroups[[length(subgroups) + 1]] <- e
    est <- c(est, scalar(f$beta)); se <- c(se, scalar(f$se))
  }
  # (a) common tau2: omnibus QM of the factor meta-regression
  fc <- rma(yi, vi, mods = ~ factor(alloc), data = bcg, method = m, control = CTRL)
  # (b) separate tau2 per subgroup: fixed-effect Q across the subgroup estimates
  fs <- rma(est, sei = se, method = "FE", control = CTRL)
  subgroups[[length(subgroups) + 1]] <- list(
    dataset = "bcg", by = "alloc", method = m, test = "subgroup_differences", levels = levels_alloc,
    common_tau2 = list(qm = scalar(fc$QM), df = num(fc$QMdf[1]), p = scalar(fc$QMp), tau2 = scalar(fc$tau2)),
    separate_tau2 = list(q = scalar(fs$QE), df = fs$k - 1, p = scalar(fs$QEp)))
}

# ---------------------------------------------------------------------------
# 7. escalc checks
# ---------------------------------------------------------------------------

tables <- list(
  bcg_first5 = data.frame(ai = dat.bcg$tpos[1:5], bi = dat.bcg$tneg[1:5], ci = dat.bcg$cpos[1:5], di = dat.bcg$cneg[1:5]),
  zero_cells = data.frame(ai = c(0, 5, 10, 0), bi = c(20, 15, 10, 30), ci = c(3, 0, 8, 0), di = c(17, 20, 12, 30))
)
escalc_out <- list()
for (tn in names(tables)) {
  tb <- tables[[tn]]
  for (ms in c("OR", "RR", "RD")) {
    variants <- list(list(drop00 = FALSE))
    if (tn == "zero_cells") variants <- c(variants, list(list(drop00 = TRUE)))
    for (v in variants) {
      es <- escalc(measure = ms, ai = ai, bi = bi, ci = ci, di = di, data = tb, drop00 = v$drop00)  # add = 1/2, to = "only0"
      escalc_out[[length(escalc_out) + 1]] <- list(
        table = tn, measure = ms, add = 0.5, to = "only0", drop00 = v$drop00,
        ai = num(tb$ai), bi = num(tb$bi), ci = num(tb$ci), di = num(tb$di),
        yi = num(es$yi), vi = num(es$vi))
      if (tn == "zero_cells") {
        cat(sprintf("escalc %s drop00=%s, double-zero row 4 (ai=0, ci=0): yi = %s, vi = %s\n",
                    ms, v$drop00, format(es$yi[4], digits = 17), format(es$vi[4], digits = 17)))
      }
    }
  }
}

# ---------------------------------------------------------------------------
# 8. conv.wald checks
# ---------------------------------------------------------------------------
# conv.wald() only exists in metafor >= 4.0. If the installed metafor lacks it, its formulas are reproduced
# verbatim from metafor's R/conv.wald.r: yi = transf(out); crit = qnorm(alpha/2, lower.tail = FALSE) with
# alpha = (100 - level)/100; vi = ((transf(ci.ub) - transf(ci.lb)) / (2 * crit))^2; for p-values
# zval = qnorm(pval/2, lower.tail = FALSE) and vi = (yi / zval)^2.
has_conv_wald <- exists("conv.wald", envir = asNamespace("metafor"))
cw_ci <- data.frame(hr = c(0.66, 1.11, 0.857, 0.691), lo = c(0.49, 0.82, 0.686, 0.358),
                    hi = c(0.88, 1.52, 1.072, 1.333), level = c(95, 90, 90, 95))
cw_p <- data.frame(hr = c(0.36, 0.18), p = c(0.034, 0.017))
if (has_conv_wald) {
  r1 <- conv.wald(out = hr, ci.lb = lo, ci.ub = hi, level = level, transf = log, data = cw_ci)
  r2 <- conv.wald(out = hr, pval = p, transf = log, data = cw_p)
  cw_source <- paste0("metafor::conv.wald ", as.character(packageVersion("metafor")))
} else {
  crit <- qnorm(((100 - cw_ci$level) / 100) / 2, lower.tail = FALSE)
  r1 <- list(yi = log(cw_ci$hr), vi = ((log(cw_ci$hi) - log(cw_ci$lo)) / (2 * crit))^2)
  z <- qnorm(cw_p$p / 2, lower.tail = FALSE)
  r2 <- list(yi = log(cw_p$hr), vi = (log(cw_p$hr) / z)^2)
  cw_source <- paste0("emulated: conv.wald() not available in metafor ", as.character(packageVersion("metafor")),
                      "; formulas copied from metafor >= 4.0 R/conv.wald.r")
}
conv_wald <- list(
  list(kind = "ci", source = cw_source, out = cw_ci$hr, ci_lb = cw_ci$lo, ci_ub = cw_ci$hi, level = cw_ci$level,
       transf = "log", yi = num(r1$yi), vi = num(r1$vi)),
  list(kind = "pval", source = cw_source, out = cw_p$hr, pval = cw_p$p, transf = "log",
       yi = num(r2$yi), vi = num(r2$vi)))

# ---------------------------------------------------------------------------
# write
# ---------------------------------------------------------------------------

res <- list(
  R_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  generated = format(Sys.Date()),
  script = script_path,
  control = list(rma = CTRL, confint = CI_CTRL),
  datasets = datasets,
  fits = fits,
  subgroups = subgroups,
  escalc = escalc_out,
  conv_wald = conv_wald)

writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, null = "null", na = "null", pretty = TRUE), out_path)
cat("wrote", out_path, "with", length(fits), "fits\n")
