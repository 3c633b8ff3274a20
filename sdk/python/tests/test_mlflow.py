"""The unmodified MLflow client (mlflow-skinny) pointed at Sightline with
MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN: a run with params, metrics and an input
dataset, a pyfunc model logged as run artifacts, registered, given an alias and loaded
back through ``models:/name@alias``; then the same objects read through Sightline's own
API. Lives with the SDK tests because they already run a real server in a virtualenv."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import unique

mlflow = pytest.importorskip("mlflow")
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [2 * x for x in model_input["x"]]


@pytest.fixture
def tracking(server_url, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server_url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", os.environ["SIGHTLINE_TOKEN"])
    # A refused request must fail the test at once, not after minutes of retries.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server_url)
    yield server_url
    mlflow.set_tracking_uri(None)


def native(server_url: str, path: str) -> dict:
    req = urllib.request.Request(
        f"{server_url}{path}", headers={"Authorization": f"Bearer {os.environ['SIGHTLINE_TOKEN']}"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_log_register_alias_and_load_back(tracking, tmp_path):
    import pandas as pd

    name = unique("doubler")
    client = MlflowClient()
    assert client.get_experiment("0").name == "Default"

    with mlflow.start_run() as run:
        mlflow.log_param("alpha", "0.5")
        mlflow.log_params({"depth": 3, "kind": "tree"})
        for step, loss in enumerate([0.9, 0.5, 0.25]):
            mlflow.log_metric("loss", loss, step=step)
        mlflow.log_metrics({"auc": 0.91})
        mlflow.set_tag("team", "risk")
        frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
        mlflow.log_input(mlflow.data.from_pandas(frame, name="train"), context="training")
        model_dir = tmp_path / "model"
        mlflow.pyfunc.save_model(str(model_dir), python_model=Doubler())
        mlflow.log_artifacts(str(model_dir), "model")
    run_id = run.info.run_id

    got = client.get_run(run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"alpha": "0.5", "depth": "3", "kind": "tree"}
    assert got.data.metrics == {"loss": 0.25, "auc": 0.91}
    assert got.data.tags["team"] == "risk"
    assert [d.dataset.name for d in got.inputs.dataset_inputs] == ["train"]
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.5), (2, 0.25)]
    found = mlflow.search_runs(experiment_ids=["0"], filter_string="params.kind = 'tree'", output_format="list")
    assert run_id in [r.info.run_id for r in found]
    assert "MLmodel" in [os.path.basename(f.path) for f in client.list_artifacts(run_id, "model")]

    version = mlflow.register_model(f"runs:/{run_id}/model", name)
    assert version.version == "1"
    client.set_registered_model_alias(name, "champion", version.version)
    client.set_model_version_tag(name, "1", "validated", "yes")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert [m.name for m in client.search_registered_models(filter_string=f"name LIKE '%{name[3:]}%'")] == [name]
    assert [v.version for v in client.search_model_versions(f"run_id='{run_id}'")] == ["1"]

    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert list(loaded.predict(pd.DataFrame({"x": [1.0, 4.0]}))) == [2.0, 8.0]

    # Stages are recorded too, and the latest version per stage follows them.
    client.transition_model_version_stage(name, "1", "Production")
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["1"]

    # The same objects through Sightline's own API: the registered model is a Sightline
    # model, its version carries the run's params, final metrics and dataset digest.
    assert native(tracking, f"/api/v1/models/{name}")["name"] == name
    details = native(tracking, f"/api/v1/models/{name}/versions/1")
    assert details["run_id"] == run_id
    assert details["params"]["kind"] == "tree"
    assert details["metrics"]["loss"] == 0.25
    assert details["aliases"] == ["champion"]
    assert details["stage"] == "Production"
    assert [d["name"] for d in details["data"]] == ["train"]
    artifacts = native(tracking, f"/api/v1/models/{name}/versions/1/artifacts")["items"]
    assert "MLmodel" in [a["path"] for a in artifacts]
    history = native(tracking, f"/api/v1/models/{name}/registry-history")["items"]
    assert [(h["kind"], h["to"]) for h in history] == [("alias", "1"), ("stage", "Production")]


def test_errors_carry_mlflow_codes(tracking):
    client = MlflowClient()
    with pytest.raises(MlflowException) as missing:
        client.get_registered_model(unique("absent"))
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    name = unique("dup")
    client.create_registered_model(name)
    with pytest.raises(MlflowException) as dup:
        client.create_registered_model(name)
    assert dup.value.error_code == "RESOURCE_ALREADY_EXISTS"

    with pytest.raises(MlflowException) as bad_source:
        client.create_model_version(name, "/etc/passwd")
    assert bad_source.value.error_code == "INVALID_PARAMETER_VALUE"

    run = client.create_run("0")
    client.log_param(run.info.run_id, "lr", "0.1")
    with pytest.raises(MlflowException) as changed:
        client.log_param(run.info.run_id, "lr", "0.2")
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"


def test_a_wrong_token_is_refused(server_url, monkeypatch):
    url = f"{server_url}/api/2.0/mlflow/experiments/get?experiment_id=0"
    req = urllib.request.Request(url, headers={"Authorization": "Bearer not-a-token"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["error_code"] == "UNAUTHENTICATED"
