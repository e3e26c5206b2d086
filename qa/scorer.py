"""The scorer: one logistic regression that turns a candidate span's named features into the probability
that it answers the question. Its best span's probability is also whether to answer at all.

    p(span answers) = sigmoid(b + Σ w_f · f)   over FEATURES (`Engine.features` computes them)

The reranker's logit (`qa.reranker`) is the strongest feature; the others say what it cannot see: how
close the dense retrieval found the span and its passage, how much of the question's words (and its
heading's) it holds, how long it is, and whether it looks like a list of numbered headings. The same
features without the reader's logit, fitted apart (`shortlist`), choose which spans the reranker reads.
Both are fitted by `python -m eval train-scorer` (`eval/scorer.py`) on tuning data of two corpora; the
answer model is then rescaled so that the best span's probability is calibrated (that share of questions
is answered right by it), and the threshold is chosen on it. The file records its own sha256, checked at load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.errors import IndexMismatch

SCORER_FILE = Path(__file__).with_name("models") / "scorer.json"
FEATURES = (
    "reader",  # the reranker's logit for question and span read together
    "dense",  # the best cosine of one of the span's sentences with the question
    "passage",  # the cosine of the span's passage with the question
    "pieces",  # each question word piece's best cosine with a piece of the span, averaged
    "overlap",  # idf-weighted share of the question's terms the span holds
    "heading",  # idf-weighted share of the question's terms in its title and headings
    "keywords",  # the passage's BM25 score over the best candidate passage's
    "prior",  # the passage's fused retrieval score over the best
    "words",  # the span's length in words / 50
    "numbering",  # share of its words that are section numbers ("5.5.", "3.")
    "opening",  # 1 when its passage opens its document (of a collection, the first record under its title)
)
SHORTLIST = FEATURES[1:]


class ScorerMissing(IndexMismatch):
    """The scorer's file is absent or damaged."""


def weights_digest(body: dict) -> str:
    """The sha256 of the fitted numbers, in one canonical JSON form."""
    fitted = {k: body[k] for k in ("answer", "shortlist", "threshold")}
    return hashlib.sha256(json.dumps(fitted, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Linear:
    """A fitted logistic regression over `names`."""

    names: tuple[str, ...]
    weights: np.ndarray
    bias: float

    @classmethod
    def from_json(cls, body: dict) -> Linear:
        return cls(tuple(body["weights"]), np.array(list(body["weights"].values()), dtype=np.float64), body["bias"])

    def to_json(self) -> dict:
        return {"weights": dict(zip(self.names, map(float, self.weights), strict=True)), "bias": float(self.bias)}

    def logit(self, rows: np.ndarray, columns: tuple[str, ...] = FEATURES) -> np.ndarray:
        """Rows of features laid out as `columns`."""
        picked = rows[:, [columns.index(n) for n in self.names]] if rows.size else rows.reshape(0, len(self.names))
        return picked @ self.weights + self.bias

    def probability(self, rows: np.ndarray, columns: tuple[str, ...] = FEATURES) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(rows, columns)))


@dataclass(frozen=True)
class Scorer:
    answer: Linear  # all FEATURES: the probability that a span answers
    shortlist: Linear  # the same without the reader: which spans the reranker reads
    threshold: float  # answer when the best span's probability reaches it; a further quote when its own does
    recipe: dict

    @classmethod
    def load(cls, path: Path = SCORER_FILE) -> Scorer:
        if not Path(path).is_file():
            raise ScorerMissing(f"The scorer is missing ({path}); make it with `python -m eval train-scorer`.")
        body = json.loads(Path(path).read_text(encoding="utf-8"))
        if body.get("sha256") != weights_digest(body):
            raise ScorerMissing(
                f"{path} is damaged (its numbers do not match its sha256); restore it from git or make it again "
                "with `python -m eval train-scorer`."
            )
        answer, shortlist = Linear.from_json(body["answer"]), Linear.from_json(body["shortlist"])
        return cls(answer, shortlist, body["threshold"], body["recipe"])

    def to_json(self) -> dict:
        body = {
            "answer": self.answer.to_json(),
            "shortlist": self.shortlist.to_json(),
            "threshold": self.threshold,
        }
        body = json.loads(json.dumps(body))  # the numbers as they will be read back
        return {**body, "sha256": weights_digest(body), "recipe": self.recipe}


def fit_logistic(rows: np.ndarray, labels: np.ndarray, l2: float = 1.0, sample_weight: np.ndarray | None = None):
    """Weights and bias of an L2-regularised logistic regression, by Newton's method (the bias is not
    regularised). Features should be on comparable scales; these are all within about [-10, 10]."""
    n, d = rows.shape
    x = np.hstack([rows, np.ones((n, 1))])
    w = np.zeros(d + 1)
    sw = np.ones(n) if sample_weight is None else sample_weight
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (sw * (p - labels)) + penalty * w
        hessian = (x * (sw * p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def fit_listwise(groups: list[tuple[np.ndarray, np.ndarray]], l2: float = 1.0) -> tuple[np.ndarray, float]:
    """Weights and bias of a linear score trained as the reranker is: per question, a softmax over a fixed
    "no answer" logit 0 and its candidates' scores, the target being its candidates that hold the answer
    (any of them), or "no answer" when none does. `groups` holds (rows, labels) per question."""
    from scipy.optimize import minimize

    d = groups[0][0].shape[1]
    width = max(len(rows) for rows, _ in groups)
    x = np.zeros((len(groups), width, d + 1))
    mask = np.zeros((len(groups), width), dtype=bool)
    positive = np.zeros((len(groups), width), dtype=bool)
    for n, (rows, labels) in enumerate(groups):
        x[n, : len(rows), :d], x[n, : len(rows), d] = rows, 1.0
        mask[n, : len(rows)], positive[n, : len(rows)] = True, labels > 0
    answered = positive.any(axis=1)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.where(mask, x @ theta, -np.inf)
        top = np.maximum(z.max(axis=1), 0.0)
        e = np.exp(z - top[:, None])
        total = np.exp(-top) + e.sum(axis=1)  # the "no answer" option's exp(0), shifted
        p = e / total[:, None]
        held = np.where(positive, e, 0.0).sum(axis=1)
        target = np.where(positive, e / np.where(held > 0, held, 1.0)[:, None], 0.0)
        value = np.log(total) + top - np.where(answered, np.log(np.where(held > 0, held, 1.0)) + top, 0.0)
        grad = np.einsum("qn,qnd->d", p - target, x)
        penalty = np.r_[theta[:d], 0.0]
        return float(value.sum() + 0.5 * l2 * penalty @ penalty), grad + l2 * penalty

    found = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B")
    return found.x[:d], float(found.x[d])
