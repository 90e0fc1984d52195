"""Layer 5: validation studies — interval coverage and simulation-based calibration (SBC).

``make validate`` (``python -m hiermeta.validation``) regenerates docs/validation/.
"""

from hiermeta.validation.coverage import coverage_study
from hiermeta.validation.sbc import sbc_ranks, uniformity_pvalue

__all__ = ["coverage_study", "sbc_ranks", "uniformity_pvalue"]
