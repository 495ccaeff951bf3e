"""Analysis of proxies against ground truth: rank correlations and their uncertainty."""

from gtnas.analysis.rank import bootstrap_ci, kendall_tau, rank_correlations, spearman

__all__ = ["bootstrap_ci", "kendall_tau", "rank_correlations", "spearman"]
