# metafor reference values for the effect-size converters (escalc) and the classic 2x2 pooling
# methods (Mantel-Haenszel, Peto), plus tau2 standard errors for the non-iterative estimators.
# Run from the repository root: Rscript tests/reference/make_metafor_measures.R
# Writes tests/reference/metafor_measures.json.
# Requires (Debian): r-base-core r-cran-metafor r-cran-metadat r-cran-jsonlite
suppressMessages({library(metafor); library(metadat); library(jsonlite)})

script_path <- "tests/reference/make_metafor_measures.R"
out_path <- "tests/reference/metafor_measures.json"

# threshold: Fisher scoring (ML/REML/EB) stops when |change in tau2| <= threshold. tol is the
# uniroot() tolerance of the PM estimator (metafor's default, .Machine$double.eps^0.25, would pin
# PM's tau2 to only about 1e-4). maxiter as in the other fixtures.
CTRL <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)

# plain numeric vector; NA/NaN become JSON null; always a JSON array (also at length 1)
arr <- function(x) { x <- as.numeric(x); x[is.nan(x)] <- NA; I(x) }
arr_chr <- function(x) I(as.character(x))
scalar <- function(x) { if (is.null(x) || length(x) == 0) return(NA); x <- as.numeric(x)[1]; if (is.nan(x)) NA else x }

# evaluate expr, muffling and collecting warnings
with_warnings <- function(expr) {
  warns <- character(0)
  val <- withCallingHandlers(expr, warning = function(w) {
    warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")})
  list(value = val, warnings = I(unique(warns)))
}

# ---------------------------------------------------------------------------
# a. escalc
# ---------------------------------------------------------------------------
# escalc's own defaults (formals): add = 1/2, to = "only0", drop00 = FALSE, vtype = "LS".
# add/to/drop00 only act on count measures (2x2 and proportions); they are recorded for every case.
ESC_DEFAULTS <- formals(escalc)[c("add", "to", "drop00", "vtype")]
ESC_DEFAULTS$add <- eval(ESC_DEFAULTS$add)

escalc_case <- function(id, dataset, measure, inputs, args = list()) {
  full <- modifyList(ESC_DEFAULTS, args)
  call_args <- c(list(measure = measure), inputs, args)
  r <- with_warnings(do.call(escalc, call_args))
  list(id = id, dataset = dataset, measure = measure,
       args = list(add = full$add, to = full$to, drop00 = full$drop00, vtype = full$vtype),
       explicit_args = if (length(args)) args else NULL,
       inputs = lapply(inputs, arr),
       yi = arr(r$value$yi), vi = arr(r$value$vi), warnings = r$warnings)
}

nor <- dat.normand1999
nor_in <- list(m1i = nor$m1i, sd1i = nor$sd1i, n1i = nor$n1i, m2i = nor$m2i, sd2i = nor$sd2i, n2i = nor$n2i)
pri <- dat.pritz1997
pri_in <- list(xi = pri$xi, ni = pri$ni)
prop_syn_in <- list(xi = c(0, 5, 10, 3), ni = c(10, 10, 10, 12))
mol <- dat.molloy2014
mol_in <- list(ri = mol$ri, ni = mol$ni)
bcg <- dat.bcg
bcg_in <- list(ai = bcg$tpos, bi = bcg$tneg, ci = bcg$cpos, di = bcg$cneg)
niel <- dat.nielweise2007
niel_in <- list(ai = niel$ai, bi = niel$n1i - niel$ai, ci = niel$ci, di = niel$n2i - niel$ci)
# synthetic 2x2: row 1 double-zero (no events in either arm), row 2 single zero cell,
# row 3 no zero cell, row 4 double-full (every patient has the event in both arms; bi = di = 0)
syn_n1 <- c(20, 15, 20, 10); syn_n2 <- c(20, 15, 20, 12)
syn_ai <- c(0, 0, 2, 10); syn_ci <- c(0, 3, 5, 12)
syn_in <- list(ai = syn_ai, bi = syn_n1 - syn_ai, ci = syn_ci, di = syn_n2 - syn_ci)

esc <- list()
add_case <- function(...) esc[[length(esc) + 1]] <<- escalc_case(...)
for (m in c("MD", "SMD", "ROM")) add_case(paste0("normand1999_", m), "normand1999", m, nor_in)
add_case("normand1999_SMD_UB", "normand1999", "SMD", nor_in, list(vtype = "UB"))
for (m in c("PLO", "PR")) add_case(paste0("pritz1997_", m), "pritz1997", m, pri_in)
for (m in c("PLO", "PR")) add_case(paste0("prop_zero_full_", m), "synthetic_proportions", m, prop_syn_in)
for (m in c("ZCOR", "COR")) add_case(paste0("molloy2014_", m), "molloy2014", m, mol_in)
for (m in c("OR", "RR", "RD")) add_case(paste0("bcg_", m), "bcg", m, bcg_in)
for (m in c("OR", "RR", "RD")) add_case(paste0("nielweise2007_", m), "nielweise2007", m, niel_in)
for (m in c("OR", "RR", "RD")) add_case(paste0("nielweise2007_", m, "_to_all"), "nielweise2007", m, niel_in, list(to = "all"))
for (m in c("OR", "RR", "RD")) add_case(paste0("double_zero_", m), "synthetic_2x2", m, syn_in)
for (m in c("OR", "RR", "RD")) add_case(paste0("double_zero_", m, "_drop00"), "synthetic_2x2", m, syn_in, list(drop00 = TRUE))

# ---------------------------------------------------------------------------
# b./c. Mantel-Haenszel and Peto
# ---------------------------------------------------------------------------
tables <- list(
  bcg = list(source = "metadat dat.bcg: ai = tpos, bi = tneg, ci = cpos, di = cneg", tab = bcg_in),
  nielweise2007 = list(source = "metadat dat.nielweise2007: bi = n1i - ai, di = n2i - ci", tab = niel_in),
  synthetic_2x2 = list(source = "made up: row 1 double-zero, row 2 one zero arm, row 3 no zero cell, row 4 double-full",
                       tab = syn_in))

pool_fields <- function(res) {
  out <- list(beta = scalar(res$beta), se = scalar(res$se), ci.lb = scalar(res$ci.lb), ci.ub = scalar(res$ci.ub),
              zval = scalar(res$zval), pval = scalar(res$pval), QE = scalar(res$QE), QEp = scalar(res$QEp),
              I2 = scalar(res$I2), H2 = scalar(res$H2), k = res$k, k.yi = res$k.yi, k.pos = scalar(res$k.pos),
              yi = arr(res$yi.f), vi = arr(res$vi.f),
              defaults_used = list(add = arr(res$add), to = arr_chr(res$to), drop00 = I(as.logical(res$drop00))))
  out
}

mh <- list(); peto <- list()
for (tn in names(tables)) {
  tb <- tables[[tn]]$tab
  for (m in c("OR", "RR", "RD")) {
    r <- with_warnings(rma.mh(ai = tb$ai, bi = tb$bi, ci = tb$ci, di = tb$di, measure = m))
    res <- r$value
    e <- c(list(dataset = tn, measure = m), pool_fields(res))
    e$correct <- res$correct
    if (m == "OR") {
      e <- c(e, list(MH = scalar(res$MH), MHp = scalar(res$MHp), CO = scalar(res$CO), COp = scalar(res$COp),
                     TA = scalar(res$TA), TAp = scalar(res$TAp), BD = scalar(res$BD), BDp = scalar(res$BDp)))
    }
    e$warnings <- r$warnings
    mh[[length(mh) + 1]] <- e
  }
  r <- with_warnings(rma.peto(ai = tb$ai, bi = tb$bi, ci = tb$ci, di = tb$di))
  e <- c(list(dataset = tn, measure = "PETO"), pool_fields(r$value))
  e$warnings <- r$warnings
  peto[[length(peto) + 1]] <- e
}

# ---------------------------------------------------------------------------
# d. tau2 and its standard error per estimator
# ---------------------------------------------------------------------------
se_sets <- list(
  bcg_RR = escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg),
  normand1999_SMD = escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
                           n2i = n2i, data = dat.normand1999))
se_tau2 <- list()
for (sn in names(se_sets)) {
  d <- se_sets[[sn]]
  fits <- list()
  for (M in c("DL", "HE", "SJ", "HS", "REML", "ML", "EB", "PM")) {
    r <- with_warnings(rma(yi, vi, data = d, method = M, control = CTRL))
    f <- r$value
    fits[[M]] <- list(tau2 = scalar(f$tau2), se.tau2 = scalar(f$se.tau2), beta = scalar(f$beta), se = scalar(f$se),
                      I2 = scalar(f$I2), H2 = scalar(f$H2), QE = scalar(f$QE), warnings = r$warnings)
  }
  se_tau2[[sn]] <- list(yi = arr(d$yi), vi = arr(d$vi), fits = fits)
}

# ---------------------------------------------------------------------------
out <- list(
  R_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")), script = script_path,
  control = CTRL,
  escalc_defaults = list(add = ESC_DEFAULTS$add, to = ESC_DEFAULTS$to, drop00 = ESC_DEFAULTS$drop00,
                         vtype = ESC_DEFAULTS$vtype),
  escalc = esc,
  tables = lapply(tables, function(t) list(source = t$source, ai = arr(t$tab$ai), bi = arr(t$tab$bi),
                                           ci = arr(t$tab$ci), di = arr(t$tab$di))),
  mh = mh, peto = peto, se_tau2 = se_tau2)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null", pretty = TRUE), out_path)
cat("wrote", out_path, ":", length(esc), "escalc cases,", length(mh), "MH fits,", length(peto), "Peto fits\n")
