# metafor reference values for small-study effects / publication bias: Egger-type regression
# tests (regtest), the rank correlation test (ranktest), trim and fill (trimfill) and
# selection models (selmodel). Run from the repository root:
#   Rscript tests/reference/make_metafor_small_study.R
# Writes tests/reference/metafor_small_study.json at full precision (digits = NA).
# Every case records its inputs (dataset, method, test and the variant) and a 'warnings'
# array; a case that metafor rejects has an 'error' field instead of results. NA is written as
# null (toJSON(na = "null"); jsonlite's default would write the string "NA").
suppressMessages({library(metafor); library(jsonlite)})
ctrl <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)  # tol: uniroot (PM)
num <- function(x) as.numeric(unname(x))
# scalar, or null (JSON) when absent (NULL / length 0) or NA
nul <- function(x) if (is.null(x) || length(x) == 0 || (length(x) == 1 && is.na(x))) NULL else num(x)
# array that stays a JSON array when it has length 0 or 1 (auto_unbox); NA -> null
arr <- function(x) I(num(x))
`%||%` <- function(a, b) if (is.null(a)) b else a

# Evaluate expr, collecting warnings (muffled) and turning an error into a record.
capture <- function(expr) {
  warns <- character(0)
  val <- withCallingHandlers(
    tryCatch(expr, error = function(e) structure(list(message = conditionMessage(e)), class = "captured_error")),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  list(value = val, warnings = I(warns), error = if (inherits(val, "captured_error")) val$message else NULL)
}

# ---------------------------------------------------------------------------------------------
# data (column-wise: study, yi, vi, ni; ni is null when the dataset has no sample sizes)
# ---------------------------------------------------------------------------------------------
hack <- read.csv("data/hackshaw1998.csv")  # the copy bundled with hiermeta (= metadat's dat.hackshaw1998)
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
# magnesium in myocardial infarction; escalc's defaults add = 1/2, to = "only0" (Bertschat 1989 has ai = 0)
egg <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.egger2001)
datasets <- list(
  hackshaw1998 = list(study = paste(hack$author, hack$year), yi = num(hack$yi), vi = num(hack$vi), ni = NULL),
  bcg = list(study = paste(bcg$author, bcg$year), yi = num(bcg$yi), vi = num(bcg$vi),
             ni = num(with(bcg, tpos + tneg + cpos + cneg))),
  egger2001 = list(study = paste(egg$study, egg$year), yi = num(egg$yi), vi = num(egg$vi),
                   ni = num(egg$n1i + egg$n2i))
)
raw_egger2001 <- with(dat.egger2001, data.frame(study = study, year = year, ai = ai, n1i = n1i, ci = ci, n2i = n2i))

# ni is passed to rma() so that x$ni is set (regtest's sample-size predictors read it)
fit <- function(dataset, method, test = "z") {
  d <- datasets[[dataset]]
  if (is.null(d$ni)) rma(yi = d$yi, vi = d$vi, slab = d$study, method = method, test = test, control = ctrl)
  else rma(yi = d$yi, vi = d$vi, ni = d$ni, slab = d$study, method = method, test = test, control = ctrl)
}

# ---------------------------------------------------------------------------------------------
# 1. regtest(fit, model, predictor)
#    model "rma": the meta-regression res$fit uses the input fit's method, test and control;
#    slope/slope_se/tau2 are its, intercept_pval = res$fit$pval[1]; dfs is null for test = "z".
#    model "lm": weighted lm(yi ~ X - 1, weights = 1/vi); slope/slope_se from coef(summary(res$fit)),
#    intercept_pval = coef(summary(res$fit))[1, 4] (the PET/PEESE test of the intercept); these
#    depend only on yi, vi (and ni), not on the input fit's method or test.
#    est/ci_low/ci_high (limit estimate) are null when regtest gives NULL (predictors ni, sqrtni).
# ---------------------------------------------------------------------------------------------
regtest_out <- list()
for (case in list(list(dataset = "hackshaw1998", method = "REML", test = "z"),
                  list(dataset = "hackshaw1998", method = "FE", test = "z"),
                  list(dataset = "bcg", method = "REML", test = "z"),
                  list(dataset = "bcg", method = "DL", test = "knha"),
                  list(dataset = "egger2001", method = "REML", test = "z"),
                  list(dataset = "egger2001", method = "ML", test = "z"))) {
  r <- fit(case$dataset, case$method, case$test)
  preds <- c("sei", "vi")
  if (!is.null(datasets[[case$dataset]]$ni)) preds <- c(preds, "ni", "ninv", "sqrtni", "sqrtninv")
  for (model in c("rma", "lm")) for (predictor in preds) {
    cap <- capture(regtest(r, model = model, predictor = predictor))
    entry <- c(case, list(model = model, predictor = predictor, warnings = cap$warnings))
    if (!is.null(cap$error)) {
      entry$error <- cap$error
    } else {
      rt <- cap$value
      entry <- c(entry, list(zval = num(rt$zval), pval = num(rt$pval), dfs = nul(rt$ddf),
        est = nul(rt$est), ci_low = nul(rt$ci.lb), ci_high = nul(rt$ci.ub)))
      if (model == "rma") {
        entry <- c(entry, list(slope = num(coef(rt$fit)[2]), slope_se = num(rt$fit$se[2]),
          tau2 = num(rt$fit$tau2), intercept_pval = num(rt$fit$pval[1])))
      } else {
        cs <- coef(summary(rt$fit))
        entry <- c(entry, list(slope = num(cs[2, 1]), slope_se = num(cs[2, 2]),
          intercept_pval = num(cs[1, 4])))
      }
    }
    regtest_out[[length(regtest_out) + 1]] <- entry
  }
}

# ---------------------------------------------------------------------------------------------
# 2. ranktest(fit, exact = ...)
#    metafor 3.8.1's ranktest (print(metafor::ranktest)) uses the fit's yi/vi only (not its tau2):
#      theta <- weighted.mean(yi, 1/vi); vb <- 1/sum(1/vi)
#      yi.star <- (yi - theta)/sqrt(vi - vb); cor.test(yi.star, vi, method = "kendall", exact = exact)
#    cor.test computes no exact p-value with ties; 'ties' repeats its check.
# ---------------------------------------------------------------------------------------------
ranktest_out <- list()
for (case in list(list(dataset = "hackshaw1998", method = "REML", test = "z", exact = TRUE),
                  list(dataset = "bcg", method = "REML", test = "z", exact = TRUE),
                  list(dataset = "egger2001", method = "REML", test = "z", exact = TRUE),
                  list(dataset = "hackshaw1998", method = "REML", test = "z", exact = FALSE))) {
  r <- fit(case$dataset, case$method, case$test)
  wi <- 1 / r$vi
  yi.star <- (r$yi - weighted.mean(r$yi, wi)) / sqrt(r$vi - 1 / sum(wi))
  ties <- min(length(unique(yi.star)), length(unique(r$vi))) < r$k
  cap <- capture(ranktest(r, exact = case$exact))
  entry <- c(case, list(ties = ties, warnings = cap$warnings))
  if (!is.null(cap$error)) entry$error <- cap$error
  else entry <- c(entry, list(tau = num(cap$value$tau), pval = num(cap$value$pval)))
  ranktest_out[[length(ranktest_out) + 1]] <- entry
}

# ---------------------------------------------------------------------------------------------
# 3. trimfill(fit, estimator, side, control = ctrl)
#    trimfill.rma.uni passes '...' to every rma.uni() call it makes (side estimation, the trimming
#    iterations and the final refit), so control = ctrl reaches all of them. The final refit does
#    not pass the input fit's 'test' (it is always test = "z"); when k0 = 0 the input fit is
#    returned unchanged. side_arg is null when trimfill chooses the side itself (sign of the slope
#    of yi on sqrt(vi)); side is the side it used. p_k0 is only defined for R0 (null otherwise).
#    filled_yi/filled_vi are the filled studies (res$yi[res$fill], res$vi[res$fill]).
#    Expected error: Q0 on egger2001 (REML and DL) trims k0 = 3, 7, 10, 15 of 16 studies, then
#    2k^2 - 4 Sr + 1/4 < 0 gives sqrt(NaN) and metafor stops ("missing value where TRUE/FALSE
#    needed"); the same happens without control = ctrl. Recorded as an 'error' case.
# ---------------------------------------------------------------------------------------------
trimfill_out <- list()
tf_cases <- list()
for (f in list(c("hackshaw1998", "REML"), c("hackshaw1998", "FE"), c("bcg", "REML"),
               c("egger2001", "REML"), c("egger2001", "DL")))
  for (est in c("L0", "R0", "Q0"))
    tf_cases[[length(tf_cases) + 1]] <- list(dataset = f[1], method = f[2], test = "z", estimator = est, side_arg = NULL)
for (s in c("left", "right"))
  tf_cases[[length(tf_cases) + 1]] <- list(dataset = "egger2001", method = "REML", test = "z", estimator = "L0", side_arg = s)
for (case in tf_cases) {
  r <- fit(case$dataset, case$method, case$test)
  cap <- capture(if (is.null(case$side_arg)) trimfill(r, estimator = case$estimator, control = ctrl)
                 else trimfill(r, side = case$side_arg, estimator = case$estimator, control = ctrl))
  entry <- c(case, list(warnings = cap$warnings))
  if (!is.null(cap$error)) {
    entry$error <- cap$error
  } else {
    tf <- cap$value
    entry <- c(entry, list(side = tf$side, k0 = num(tf$k0), se_k0 = num(tf$se.k0), p_k0 = nul(tf$p.k0),
      estimate = num(tf$beta), se = num(tf$se), ci_low = num(tf$ci.lb), ci_high = num(tf$ci.ub),
      pval = num(tf$pval), tau2 = num(tf$tau2),
      filled_yi = arr(tf$yi[tf$fill]), filled_vi = arr(tf$vi[tf$fill])))
  }
  trimfill_out[[length(trimfill_out) + 1]] <- entry
}

# ---------------------------------------------------------------------------------------------
# 4. selmodel(fit, type, steps, alternative, control = ...)
#    selmodel refits a random-effects input by ML (FE inputs keep tau2 = 0) and maximises the
#    likelihood over (beta, log tau2, delta mapped by a logistic onto [delta_min, delta_max]) with
#    optim(BFGS). Control entries it does not know go to the optimiser and 'intCtrl' to integrate()
#    (names checked against metafor:::selmodel.rma.uni). Settings, and why:
#      reltol = 1e-14, maxit = 10000  BFGS stopping rule;
#      ndeps = rep(1e-6, npar)        optim's finite-difference step for the gradient (the default
#                                     1e-3 left beta/delta ~1e-6 from the optimum);
#      intCtrl = list(rel.tol = 1e-12)  the non-step models integrate the weighted density
#                                     numerically (step functions have a closed form); integrate's
#                                     default rel.tol (eps^0.25 ~ 1.2e-4) moves ll by 1e-8 (negexp)
#                                     to 2.5e-4 (beta). If integrate() fails at 1e-12 somewhere on
#                                     the optimiser's path, rel.tol 1e-10 and then 1e-8 are used;
#                                     int_rel_tol records the value used (null for step functions).
#                                     (beta needs 1e-8; its ll then agreed to 2e-9 with an
#                                     independent, piecewise integration at rel.tol 1e-12.)
#    optimum_check: the same model refitted with Nelder-Mead (reltol 1e-16) and with
#    minqa::bobyqa (rhoend 1e-10), each started away from the optimum (beta + 0.05,
#    1.5 tau2 + 0.001, 1.2 delta + 0.01), recording |ll difference| and the largest absolute
#    difference in beta, tau2 and delta from the BFGS optimum.
#    The beta model on hackshaw1998 has a second, lower local maximum (ll = -9.034867 at
#    beta = -0.0097, tau2 = 0.0079, delta = (0.664, 1.628)) that Nelder-Mead reaches from
#    delta = (0.5, 0.5); the recorded optimum (ll = -7.809866) is the larger one.
#    steps is the argument as given (null when none); steps_used is metafor's (1 appended).
#    ll0 is the log-likelihood of the (ML) fit without selection; se_delta is null for delta[1]
#    of a step function (fixed at 1). pval_min clamps the p-values (beta and power models).
# ---------------------------------------------------------------------------------------------
n_deltas <- function(type, steps) {
  if (type == "stepfun") length(unique(c(steps, 1)))
  else if (type %in% c("beta", "negexppow", "halfnorm2", "negexp2", "logistic2", "power2")) 2L else 1L
}
sel_cases <- list()
for (type in c("stepfun", "stepfun", "negexp", "halfnorm", "power", "logistic", "beta"))
  sel_cases[[length(sel_cases) + 1]] <- list(dataset = "hackshaw1998", method = "REML", test = "z",
    type = type, steps = NULL, alternative = "greater")
sel_cases[[1]]$steps <- I(0.025)
sel_cases[[2]]$steps <- I(c(0.025, 0.10, 0.50))
sel_cases <- c(sel_cases, list(
  list(dataset = "egger2001", method = "REML", test = "z", type = "stepfun", steps = I(0.025), alternative = "less"),
  list(dataset = "egger2001", method = "REML", test = "z", type = "negexp", steps = NULL, alternative = "less"),
  list(dataset = "bcg", method = "REML", test = "z", type = "stepfun", steps = I(c(0.05, 0.5)), alternative = "less"),
  list(dataset = "hackshaw1998", method = "FE", test = "z", type = "stepfun", steps = I(0.025), alternative = "greater")))

run_selmodel <- function(r, case, control) {
  if (is.null(case$steps)) selmodel(r, type = case$type, alternative = case$alternative, control = control)
  else selmodel(r, type = case$type, alternative = case$alternative, steps = num(case$steps), control = control)
}
selmodel_out <- list()
for (case in sel_cases) {
  r <- fit(case$dataset, case$method, case$test)
  npar <- 2L + n_deltas(case$type, case$steps)  # beta, tau2, delta (delta[1] of stepfun included)
  int_tols <- if (case$type == "stepfun") NA else c(1e-12, 1e-10, 1e-8)
  for (int_tol in int_tols) {
    control <- list(reltol = 1e-14, maxit = 10000, ndeps = rep(1e-6, npar))
    if (!is.na(int_tol)) control$intCtrl <- list(rel.tol = int_tol)
    cap <- capture(run_selmodel(r, case, control))
    if (is.null(cap$error)) break
  }
  entry <- c(case, list(warnings = cap$warnings))
  if (!is.null(cap$error)) {
    entry$error <- cap$error
    selmodel_out[[length(selmodel_out) + 1]] <- entry
    cat("selmodel ERROR:", case$dataset, case$type, ":", cap$error, "\n")
    next
  }
  s <- cap$value
  entry <- c(entry, list(int_rel_tol = nul(int_tol),
    steps_used = if (case$type == "stepfun") arr(s$steps) else NULL,
    beta = num(s$beta), se = nul(s$se), ci_low = nul(s$ci.lb), ci_high = nul(s$ci.ub),
    zval = nul(s$zval), pval = nul(s$pval),
    tau2 = num(s$tau2), se_tau2 = nul(s$se.tau2),
    delta = arr(s$delta), se_delta = arr(s$se.delta),
    ci_low_delta = arr(s$ci.lb.delta), ci_high_delta = arr(s$ci.ub.delta),
    ll = num(s$ll), ll0 = num(s$ll0), LRT = num(s$LRT), LRTdf = num(s$LRTdf), LRTp = nul(s$LRTp),
    LRT_tau2 = nul(s$LRT.tau2), LRTp_tau2 = nul(s$LRTp.tau2),
    ptable_k = if (case$type == "stepfun") arr(s$ptable$k) else NULL,
    delta_min = arr(s$delta.min), delta_max = arr(s$delta.max), pval_min = num(s$pval.min)))
  # the optimum again, from another start with two other optimisers
  start <- list(beta.init = c(s$beta) + 0.05, tau2.init = 1.5 * s$tau2 + 1e-3,
                delta.init = pmin(1.2 * s$delta + 0.01, 0.9 * s$delta.max), intCtrl = control$intCtrl)
  checks <- list()
  for (opt in list(list(optimizer = "Nelder-Mead", reltol = 1e-16, maxit = 100000),
                   list(optimizer = "bobyqa", rhoend = 1e-10, maxfun = 100000))) {
    chk <- capture(run_selmodel(r, case, c(opt, start)))
    if (!is.null(chk$error)) {
      checks[[length(checks) + 1]] <- list(optimizer = opt$optimizer, error = chk$error)
    } else {
      s2 <- chk$value
      checks[[length(checks) + 1]] <- list(optimizer = opt$optimizer, ll_abs_diff = abs(s2$ll - s$ll),
        max_abs_par_diff = max(abs(c(s2$beta - s$beta, s2$tau2 - s$tau2, s2$delta - s$delta))))
    }
    cat(sprintf("selmodel %-12s %-4s %-8s %-7s %-11s ll = %.12f  |dll| = %.2e  |dpar| = %.2e %s\n",
                case$dataset, case$method, case$type, case$alternative, opt$optimizer, s$ll,
                checks[[length(checks)]]$ll_abs_diff %||% NA, checks[[length(checks)]]$max_abs_par_diff %||% NA,
                checks[[length(checks)]]$error %||% ""))
  }
  entry$optimum_check <- checks
  selmodel_out[[length(selmodel_out) + 1]] <- entry
}

out <- list(
  R_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  jsonlite_version = as.character(packageVersion("jsonlite")),
  script = "tests/reference/make_metafor_small_study.R", control = ctrl,
  selmodel_control = list(reltol = 1e-14, maxit = 10000, ndeps = 1e-6, int_rel_tol = c(1e-12, 1e-10, 1e-8)),
  datasets = datasets, raw_egger2001 = raw_egger2001,
  regtest = regtest_out, ranktest = ranktest_out, trimfill = trimfill_out, selmodel = selmodel_out)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null"),
           "tests/reference/metafor_small_study.json")
