"""Layer 3: the engines — frequentist (metafor's rma.uni), exact (quadrature) and NUTS (PyMC).

Engines are looked up by name in :mod:`hiermeta.engines.registry`; each returns a result that
implements :class:`hiermeta.results.contract.MetaResult`.
"""
