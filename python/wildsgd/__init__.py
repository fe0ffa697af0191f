"""wildsgd: lock-free, Hogwild!-style parallel SGD with scikit-learn-compatible
estimators.

>>> from wildsgd import SGDClassifier, SGDRegressor, MatrixFactorization

Models save to (and load from) the checkpoint format of ``wildsgd train
--out``: a model trained here predicts with ``wildsgd predict``, and one
trained by the command line loads with ``SGDClassifier.load(path)``.
"""

from ._core import __version__
from ._linear import SGDClassifier, SGDRegressor
from ._mf import MatrixFactorization

__all__ = ["SGDClassifier", "SGDRegressor", "MatrixFactorization", "__version__"]
