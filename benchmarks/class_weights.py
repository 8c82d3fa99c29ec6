"""Class weights for a logistic head on imbalanced budgets: none (linear-probe before) against balanced (since).

Run:
    .venv/bin/python benchmarks/class_weights.py                       # sms_spam and trec at 8, 32, 64

Each budget is decision_quality.py's natural draw 0 (the pool's label proportions, budget x
labels examples in all). A logistic-regression head with linear-probe's settings (C=10) is
fitted on the bundled encoder's embeddings of the budget, once without class weights (as
linear-probe fitted before) and once with scikit-learn's `class_weight="balanced"` (as it fits
now), and each is scored by macro-F1 on the dataset's large test set. It prints one line per
budget. It measured the change before the product made it; it trains nothing through the encoder.
"""

from __future__ import annotations

import argparse

# decision_quality.py's datasets and natural draws (the script's folder is on sys.path).
import decision_quality as dq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="sms_spam,trec")
    parser.add_argument("--budgets", default="8,32,64", help="per class on average; default 8,32,64")
    parser.add_argument("--max-test", type=int, default=1000)
    args = parser.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from shouldtune.backends.encoder import SentenceEncoder

    encoder = SentenceEncoder()  # the bundled all-MiniLM-L6-v2, as linear-probe embeds
    print(f"{'natural budget':<22} {'labels':<28} {'none':>6} {'balanced':>9}")
    try:
        for name in args.datasets.split(","):
            dataset = dq.naturally_drawn(dq.load_dataset(name, dq.DATA_ROOT, args.max_test))
            test = encoder.embed(dataset.test.texts)
            for per_class in (int(b) for b in args.budgets.split(",")):
                budget = dq.draw_budget(dataset, per_class, 0, natural=True)
                vectors = encoder.embed(budget.texts)
                scores = []
                for weights in (None, "balanced"):
                    head = LogisticRegression(C=10.0, max_iter=2000, random_state=0, class_weight=weights)
                    head.fit(vectors, list(budget.labels))
                    scores.append(f1_score(dataset.test.labels, head.predict(test), average="macro"))
                counts = ", ".join(f"{label} {budget.labels.count(label)}" for label in sorted(set(budget.labels)))
                print(f"{name + ' ' + str(len(budget)):<22} {counts[:28]:<28} {scores[0]:>6.3f} {scores[1]:>9.3f}", flush=True)
    finally:
        encoder.close()


if __name__ == "__main__":
    main()
