"""The unmodified OpenLineage Python client pointed at Sightline: START and COMPLETE
events with input and output datasets, schema and column lineage, then the graph read
back through Sightline's Marquez-shaped API. Lives with the SDK tests because they
already run a real server in a virtualenv."""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import column_lineage_dataset, schema_dataset
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from conftest import unique

PRODUCER = "https://github.com/sightline/tests/openlineage"


def get(server_url: str, path: str, **query: str) -> dict:
    url = f"{server_url}{path}?{urllib.parse.urlencode(query)}"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {os.environ['SIGHTLINE_TOKEN']}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_openlineage_client_events_become_a_graph(server_url):
    client = OpenLineageClient(
        transport=HttpTransport(
            HttpConfig(url=server_url, auth=ApiKeyTokenProvider({"apiKey": os.environ["SIGHTLINE_TOKEN"]}))
        )
    )
    namespace = unique("warehouse")
    job = Job(namespace="airflow", name=unique("build_features"))
    run = Run(runId=str(uuid.uuid4()))
    source = InputDataset(namespace=namespace, name="public.loans")
    features = OutputDataset(
        namespace=namespace,
        name="features.loans",
        facets={
            "schema": schema_dataset.SchemaDatasetFacet(
                fields=[schema_dataset.SchemaDatasetFacetFields(name="income", type="DOUBLE")]
            ),
            "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(
                fields={
                    "income": column_lineage_dataset.Fields(
                        inputFields=[
                            column_lineage_dataset.InputField(namespace=namespace, name="public.loans", field="salary")
                        ],
                        transformationDescription="salary * 12",
                    )
                }
            ),
        },
    )
    now = datetime.now(timezone.utc).isoformat()
    client.emit(RunEvent(eventType=RunState.START, eventTime=now, run=run, job=job, producer=PRODUCER, inputs=[source]))
    client.emit(
        RunEvent(
            eventType=RunState.COMPLETE,
            eventTime=datetime.now(timezone.utc).isoformat(),
            run=run,
            job=job,
            producer=PRODUCER,
            inputs=[source],
            outputs=[features],
        )
    )

    graph = get(server_url, "/api/v1/lineage", nodeId=f"dataset:{namespace}:public.loans", depth="5")
    ids = sorted(node["id"] for node in graph["graph"])
    assert ids == sorted(
        [f"dataset:{namespace}:public.loans", f"dataset:{namespace}:features.loans", f"job:airflow:{job.name}"]
    )
    job_node = next(n for n in graph["graph"] if n["type"] == "JOB")
    assert job_node["data"]["latestRun"]["id"] == run.runId
    assert job_node["data"]["latestRun"]["state"] == "COMPLETE"
    assert job_node["outEdges"] == [
        {"origin": f"job:airflow:{job.name}", "destination": f"dataset:{namespace}:features.loans"}
    ]

    columns = get(server_url, "/api/v1/lineage/columns", nodeId=f"dataset:{namespace}:features.loans")
    income = next(n for n in columns["graph"] if n["id"].endswith(":income"))
    assert income["inEdges"][0]["origin"] == f"datasetField:{namespace}:public.loans:salary"
    assert income["inEdges"][0]["transformation"] == "salary * 12"
