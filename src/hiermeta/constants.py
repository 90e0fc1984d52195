"""Numbers used across layers (layer 0: imports nothing of hiermeta)."""

#: The 0.975 quantile of the standard normal: the half-width, in standard errors, of a 95%
#: Wald interval (scipy.stats.norm.ppf(0.975)).
Z95 = 1.959963984540054
