"""`--model logreg`: utterance statistics -> StandardScaler -> multinomial logistic regression."""

from __future__ import annotations

from dataclasses import dataclass

from tfemo.core.options import option
from tfemo.models.estimator import (
    STATISTICS,
    STATISTICS_HELP,
    EstimatorOptions,
    UtteranceEstimator,
    estimator_layout,
)
from tfemo.records.description import DatasetDescription


@dataclass(frozen=True)
class LogRegConfig(EstimatorOptions):
    """The options of `--model logreg` (features and classes come from the records)."""

    statistics: str = option("rich", STATISTICS_HELP, choices=STATISTICS)
    logreg_c: float = option(0.1, "inverse L2 regularisation strength C (smaller: stronger)")
    class_weight: str = option("balanced", "class weights: balanced (inverse frequency) or "
                               "none", choices=("balanced", "none"))
    max_iter: int = option(2000, "solver iterations (lbfgs)")


def build(description: DatasetDescription, config: LogRegConfig) -> UtteranceEstimator:
    """The unfitted logistic-regression estimator for the records of `description`."""
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(
        C=config.logreg_c, max_iter=config.max_iter, random_state=0,
        class_weight=None if config.class_weight == "none" else "balanced")
    return UtteranceEstimator(name="logreg", class_names=description.label_names,
                              statistics=config.statistics, classifier=classifier,
                              utterance_norm=config.utterance_norm,
                              gemaps_weight=config.gemaps_weight,
                              **estimator_layout(description))
