"""A batch job: a scikit-learn pipeline scores a table, the predictions go to Sightline
with log_dataframe, and the ground truth follows as feedback.

    SIGHTLINE_URL=http://127.0.0.1:7878 python examples/sklearn_pipeline.py

Request ids are derived from the rows, so running the job twice stores nothing twice:
the second run reports duplicates.
"""

from __future__ import annotations

import argparse
import json

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sightline


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="server URL (default $SIGHTLINE_URL)")
    parser.add_argument("--model", default="breast-cancer")
    parser.add_argument("--version", default="logreg-1")
    args = parser.parse_args(argv)

    # Data shipped with scikit-learn: 30 numeric features, two classes.
    data = load_breast_cancer(as_frame=True)
    X = data.data.rename(columns=lambda c: c.replace(" ", "_"))
    y = data.target.map({0: "malignant", 1: "benign"})
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    pipeline.fit(X_train, y_train)
    classes = [str(c) for c in pipeline.classes_]

    with sightline.Client(args.url) as client:
        client.create_model(
            args.model,
            "binary_classification",
            X,  # feature names and types from the DataFrame
            classes=classes,
            positive_class="malignant",
            description="breast cancer screening (scikit-learn sample data)",
            exist_ok=True,
        )
        client.create_version(args.model, args.version, exist_ok=True)

        # Score the batch: predictions and one probability column per class.
        scored = X_test.copy()
        scored["prediction"] = pipeline.predict(X_test)
        for i, cls in enumerate(classes):
            scored[cls] = pipeline.predict_proba(X_test)[:, i]
        scored["request_id"] = [f"{args.version}-row-{i}" for i in X_test.index]

        result = client.log_dataframe(
            scored,
            model=args.model,
            version=args.version,
            prediction="prediction",
            scores=classes,
            request_id="request_id",
            features=list(X.columns),
            tags={"job": "nightly-scoring"},
        )

        # Later, the true diagnoses arrive.
        labels = client.log_feedback_batch(
            args.model, zip(scored["request_id"], y_test), wait=True
        )

        summary = {
            "rows": len(scored),
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": len(result.rejected),
            "failed": result.failed,
            "labels_accepted": labels.accepted,
            "labels_duplicates": labels.duplicates,
            "accuracy": float((scored["prediction"] == y_test).mean()),
            "first_request_id": result.request_ids[0],
        }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
