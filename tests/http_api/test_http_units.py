"""The HTTP layer's parts on their own: the request validator against the reference
``jsonschema`` implementation, the map projection on data with a known answer, status
mapping and the auth rule."""

from __future__ import annotations

import itertools

import grpc
import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kit.json_strategy import json_values as kit_json_values

from fute_client.errors import InvalidArgumentError
from server.auth import refusal
from server.http_api.openapi import openapi_document
from server.http_api.schema import SCHEMAS, validate
from server.http_api.server import HttpConfig, access_of, http_refusal
from server.http_api.status import HTTP_STATUS
from server.http_api.task_map import chord_distances, classical_mds, cluster_order, faithfulness, task_map

DOC = openapi_document()
REQUESTS = sorted(n for n in SCHEMAS if n.endswith("Request"))
json_values = kit_json_values(
    st.sampled_from(
        ["k", "ids", "queries", "id", "vector", "filter", "must", "field", "any_of", "name", "dim", "x"]
    ),
    int_bits=66,
    text_size=6,
    container_size=4,
    max_leaves=10,
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(name=st.sampled_from(REQUESTS), value=json_values)
def test_the_validator_agrees_with_jsonschema(name: str, value: object) -> None:
    schema = {"$ref": f"#/components/schemas/{name}", "components": DOC["components"]}
    try:
        jsonschema.validate(value, schema)
        reference_ok = True
    except jsonschema.ValidationError:
        reference_ok = False
    try:
        validate(value, SCHEMAS[name])
        ours_ok = True
    except InvalidArgumentError as exc:
        ours_ok = False
        assert str(exc).startswith("request body at $")
    assert ours_ok == reference_ok


def test_the_openapi_document_is_valid_json_schema() -> None:
    for schema in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    assert DOC["openapi"].startswith("3.1")


def test_classical_mds_recovers_a_planar_configuration() -> None:
    rng = np.random.default_rng(0)
    # Unit vectors on a great circle: their chord distances are exactly planar.
    angles = rng.uniform(0, np.pi, size=12)
    vectors = np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], axis=1)
    cos = vectors @ vectors.T
    dist = chord_distances(cos)
    xy = classical_mds(dist)
    rho, stress = faithfulness(xy, dist)
    assert rho == pytest.approx(1.0) and stress == pytest.approx(0.0, abs=1e-6)


def test_task_map_picks_the_more_faithful_projection() -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(size=(30, 20))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    cos = v @ v.T
    dist = chord_distances(cos)
    base = faithfulness(classical_mds(dist), dist)
    chosen = task_map(cos)
    assert chosen.spearman is not None and base[0] is not None
    assert chosen.spearman >= base[0]
    assert task_map(cos).xy.tolist() == chosen.xy.tolist()  # deterministic
    assert task_map(np.ones((1, 1))).xy.shape == (1, 2)


def test_cluster_order_puts_blocks_together() -> None:
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(3, 16))
    v = np.concatenate([c + 0.05 * rng.normal(size=(4, 16)) for c in centres])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    shuffle = rng.permutation(12)
    order = cluster_order((v @ v.T)[np.ix_(shuffle, shuffle)])
    groups = [int(shuffle[i]) // 4 for i in order]
    assert sorted(order) == list(range(12))
    assert sum(a != b for a, b in itertools.pairwise(groups)) == 2  # three contiguous blocks


def test_every_status_code_has_an_http_status() -> None:
    assert set(HTTP_STATUS) == set(grpc.StatusCode) - {grpc.StatusCode.OK}
    assert all(400 <= s < 600 for s in HTTP_STATUS.values())


def test_http_auth_is_the_grpc_rule_and_refuses_open_writes() -> None:
    read, write = frozenset({"r"}), frozenset({"w"})
    on = HttpConfig(1, 1, 1, read, write)
    for rpc in ("ListSpaces", "DeleteSpace", "CreateSnapshot"):
        for token in (None, "r", "w", "x"):
            assert http_refusal(on, rpc, token) == refusal(rpc, token, read, write)
    off = HttpConfig(1, 1, 1)
    assert http_refusal(off, "ListSpaces", None) is None
    refused = http_refusal(off, "DeleteSpace", None)
    assert refused is not None and refused[0] == grpc.StatusCode.PERMISSION_DENIED
    assert access_of(on, "r") == {"auth_enabled": True, "can_read": True, "can_write": False}
    assert access_of(on, "x")["can_read"] is False
