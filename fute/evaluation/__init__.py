"""Judge task rankings against measured transfer: ground truth, metrics, reports."""

from fute.evaluation.ground_truth import GroundTruth, load_ground_truth
from fute.evaluation.metrics import ndcg, regret_at_k, spearman
from fute.evaluation.rankings import (
    RankerResult,
    TargetMetrics,
    evaluate_ranker,
    oracle_scores,
    random_result,
)

__all__ = [
    "GroundTruth",
    "RankerResult",
    "TargetMetrics",
    "evaluate_ranker",
    "load_ground_truth",
    "ndcg",
    "oracle_scores",
    "random_result",
    "regret_at_k",
    "spearman",
]
