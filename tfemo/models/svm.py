"""`--model svm`: utterance statistics -> StandardScaler -> scikit-learn SVC (the baseline)."""

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

KERNELS = ("rbf", "linear")
CALIBRATION_FOLDS = 5  # at most; fewer when a class has fewer training utterances
GAMMAS = ("scale", "auto")


@dataclass(frozen=True)
class SVMConfig(EstimatorOptions):
    """The options of `--model svm` (features and classes come from the records)."""

    statistics: str = option("rich", STATISTICS_HELP, choices=STATISTICS)
    svm_c: float = option(1.0, "SVM regularisation C (smaller: stronger regularisation)")
    kernel: str = option("rbf", "SVM kernel", choices=KERNELS)
    gamma: str = option("scale", "RBF kernel width (scikit-learn's rule)", choices=GAMMAS)
    class_weight: str = option("balanced", "class weights: balanced (inverse frequency) or "
                               "none", choices=("balanced", "none"))


def build(description: DatasetDescription, config: SVMConfig) -> UtteranceEstimator:
    """The unfitted SVM estimator for the records of `description`.

    Probabilities come from Platt scaling fit on 5-fold cross-validated decision values, then
    one SVC fit on all the training data: scikit-learn's `CalibratedClassifierCV(SVC(),
    ensemble=False)`, which replaces the deprecated `SVC(probability=True)` (libsvm's own
    internal 5-fold Platt scaling). The folds are stratified and unshuffled, so the fit is
    deterministic.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    svc = SVC(C=config.svm_c, kernel=config.kernel, gamma=config.gamma,
              class_weight=None if config.class_weight == "none" else "balanced")
    classifier = CalibratedClassifierCV(svc, method="sigmoid", cv=CALIBRATION_FOLDS,
                                        ensemble=False)
    return UtteranceEstimator(name="svm", class_names=description.label_names,
                              statistics=config.statistics, classifier=classifier,
                              utterance_norm=config.utterance_norm,
                              gemaps_weight=config.gemaps_weight,
                              **estimator_layout(description))
