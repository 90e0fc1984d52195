# Extra metafor reference values for regression cases found after the main fixture was made.
# Run from the repository root: Rscript tests/reference/make_metafor_extra.R
suppressMessages({library(metafor); library(jsonlite)})
# A k = 10 dataset from the coverage study on which Fisher scoring for REML falls into a
# 2-cycle (metafor's defaults stop with "Fisher scoring algorithm did not converge"); a step
# adjustment of 0.5 lets metafor converge, giving the REML estimate to compare with.
yi <- c(0.0483226565566095, -0.1116835692313664, -0.005000068807711117, 0.5017961070522091,
        -0.4046903706648367, -0.36325866451000827, 0.1826735970457592, 0.009342243906514364,
        -0.24535218002680853, -0.031409366108450326)
vi <- c(0.07439479949472443, 0.24435031981435087, 0.061269790474876865, 0.1899281791168936,
        0.18288181176864482, 0.134576629246086, 0.054595887831503175, 0.2084881586337363,
        0.014694165414135622, 0.17631066397895112)
default <- tryCatch(rma(yi, vi, method = "REML"), error = function(e) conditionMessage(e))
fit <- rma(yi, vi, method = "REML", control = list(stepadj = 0.5, threshold = 1e-12, maxiter = 10000))
ml <- rma(yi, vi, method = "ML", control = list(stepadj = 0.5, threshold = 1e-12, maxiter = 10000))
out <- list(
  R_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
  script = "tests/reference/make_metafor_extra.R",
  fisher_cycle = list(yi = yi, vi = vi,
    default_result = if (is.character(default)) default else "converged",
    reml = list(tau2 = fit$tau2, estimate = c(fit$beta), se = fit$se),
    ml = list(tau2 = ml$tau2, estimate = c(ml$beta), se = ml$se)))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/reference/metafor_extra.json")
