# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Comparing heterogeneity priors for a pooled hazard ratio
#
# The question: resecting the primary tumour in de novo metastatic breast cancer — how much does
# the pooled HR, its predictive interval and P(HR < 1) depend on the prior for the between-study
# SD tau? The exact engine answers each prior in milliseconds with no Monte-Carlo error, so the
# whole catalogue costs less than one MCMC fit.
#
# Open it as a notebook with jupytext (or run it as a script). CI executes it as a real
# notebook, figures inline, and it writes no file.

# %%
import matplotlib.pyplot as plt

import hiermeta as hm

data = hm.load_effects("ptr_mbc", subset="primary")
print(data)

# %% [markdown]
# ## The catalogue, in words on the HR scale

# %%
catalogue = hm.priors.catalogue("logHR")
for name, prior in catalogue.items():
    print(f"- {name}: {prior.describe('HR')}\n")

# %% [markdown]
# ## One table: every prior, the same data

# %%
table = hm.sensitivity(data, priors=catalogue)
print(table.round(3).to_string())

# %% [markdown]
# ## Prior and posterior of tau for three contrasting priors

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), layout="constrained")
for ax, name in zip(
    axes,
    ["HalfNormal(0.5) [default]", "HalfCauchy(0.5)", "InvGamma(2.42, 0.30) [Cochrane log-HR]"],
    strict=True,
):
    fit = hm.bayesian(data, tau_prior=catalogue[name])
    fit.plot_tau(ax=ax)
    ax.set_title(name, fontsize=9)
plt.show()

# %% [markdown]
# ## What changes, and what does not
#
# The pooled HR barely moves across the catalogue; the predictive interval for a new study — the
# quantity that depends most on tau — is where the prior matters, most of all for the Cochrane
# empirical prior, which expects less heterogeneity than these ten cohorts show.

# %%
spread = table["P(HR < 1)"].max() - table["P(HR < 1)"].min()
print(f"P(HR < 1) ranges over {spread:.3f} across {len(table)} priors")
print(
    f"predictive upper bound ranges from {table['pi_high'].min():.2f} to {table['pi_high'].max():.2f}"
)
