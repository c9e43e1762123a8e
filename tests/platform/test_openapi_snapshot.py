"""``labextension/openapi.json`` is the document the control plane serves.

The Lab plugin's TypeScript types are generated from that snapshot
(``jlpm build:types``), so an API change must update the snapshot too: write
the served document to the file, run ``jlpm build:types`` and commit both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.hub

API = "/services/cubelab/api/v1"
SNAPSHOT = Path(__file__).resolve().parents[2] / "labextension" / "openapi.json"


def differences(a, b, path="") -> list[str]:
    """Where two JSON values differ, as readable paths (the first few)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a:
                out.append(f"{path}/{key}: only in the served document")
            elif key not in b:
                out.append(f"{path}/{key}: only in the snapshot")
            else:
                out.extend(differences(a[key], b[key], f"{path}/{key}"))
        return out
    if a != b:
        return [f"{path or '/'}: snapshot {json.dumps(a)[:80]} != served {json.dumps(b)[:80]}"]
    return []


def test_snapshot_matches_the_served_document(platform):
    resp = requests.get(f"{platform.url}{API}/openapi.json", timeout=30)
    assert resp.status_code == 200, resp.text
    served = resp.json()
    snapshot = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    diff = differences(snapshot, served)
    assert not diff, (
        "labextension/openapi.json differs from the control plane's document; write the served "
        "document there and run `jlpm build:types`:\n" + "\n".join(diff[:20])
    )


def test_difference_report_names_the_changed_parts():
    snapshot = {"paths": {"/runs": {"get": {"summary": "old"}}}, "info": {"title": "x"}}
    served = {"paths": {"/runs": {"get": {"summary": "new"}}, "/boards": {}}, "info": {"title": "x"}}
    assert differences(snapshot, served) == [
        "/paths//boards: only in the served document",
        '/paths//runs/get/summary: snapshot "old" != served "new"',
    ]
