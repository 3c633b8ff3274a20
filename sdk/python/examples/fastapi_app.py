"""Quickstart: a scikit-learn classifier behind FastAPI, monitored by Sightline.

Every call to /predict is logged (inputs, prediction, class probabilities, latency);
a failing prediction is logged as an error event with its traceback; /feedback sends
the true class later. Run a Sightline server, then:

    pip install "./sdk/python" fastapi uvicorn scikit-learn
    SIGHTLINE_URL=http://127.0.0.1:7878 python examples/fastapi_app.py --port 8000

    curl -s localhost:8000/predict -H 'content-type: application/json' \
         -d '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
    curl -s localhost:8000/feedback/<request_id> -H 'content-type: application/json' \
         -d '{"label": "setosa"}'
"""

from __future__ import annotations

import argparse
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

import sightline

MODEL = os.environ.get("SIGHTLINE_MODEL", "iris")
VERSION = "rf-1"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

# The model: trained at start-up on the iris data that ships with scikit-learn.
iris = load_iris()
CLASSES = [str(c) for c in iris.target_names]
classifier = RandomForestClassifier(n_estimators=50, random_state=0).fit(iris.data, iris.target)

# URL and token come from $SIGHTLINE_URL and $SIGHTLINE_TOKEN.
client = sightline.Client(version=VERSION)


@sightline.monitor(client, model=MODEL)
def predict(flower: dict) -> dict:
    """The monitored predict call: its argument is the features, its result the
    prediction and scores."""
    if min(flower.values()) <= 0:
        raise ValueError(f"measurements must be positive, got {flower}")
    proba = classifier.predict_proba([[flower[f] for f in FEATURES]])[0]
    best = int(proba.argmax())
    return {"prediction": CLASSES[best], "scores": dict(zip(CLASSES, proba.tolist()))}


@asynccontextmanager
async def lifespan(app: FastAPI):
    client.create_model(
        MODEL,
        "multiclass_classification",
        {name: "numeric" for name in FEATURES},
        classes=CLASSES,
        description="iris species from flower measurements",
        exist_ok=True,
    )
    client.create_version(MODEL, VERSION, exist_ok=True)
    yield
    client.close()  # sends whatever is still queued


app = FastAPI(title="iris", lifespan=lifespan)


class Flower(BaseModel):
    sepal_length: float
    sepal_width: float
    petal_length: float
    petal_width: float


class Feedback(BaseModel):
    label: str


@app.post("/predict")
def predict_endpoint(flower: Flower) -> dict:
    try:
        result = predict(flower.model_dump())
    except ValueError as e:  # already logged by the monitor, with its traceback
        raise HTTPException(status_code=422, detail=str(e))
    return {**result, "request_id": sightline.last_request_id()}


@app.post("/feedback/{request_id}")
def feedback_endpoint(request_id: str, feedback: Feedback) -> dict:
    client.log_feedback(MODEL, request_id, feedback.label)
    return {"ok": True}


@app.get("/healthz")
def healthz() -> dict:
    return {"ok": True, "sightline": client.stats()}


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
