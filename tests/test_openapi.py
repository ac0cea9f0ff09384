"""The OpenAPI document: valid OpenAPI 3.1, and it declares every /api route the app
serves (so the docs cannot silently miss one)."""

from __future__ import annotations

from openapi_spec_validator import validate

from game_server.http_api import endpoints
from tests.client import Api
from tests.conftest import RunningServer


async def test_openapi_document_is_valid_and_complete(server: RunningServer, api: Api) -> None:
    status, spec = await api.call("GET", "/api/openapi.json")
    assert status == 200
    validate(spec)
    declared = {(e.method, e.path) for e in endpoints()}
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert declared == documented
    served = {(r.method, r.resource.canonical)
              for r in server.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/")
              and r.method not in ("HEAD", "*")}
    served -= {("GET", "/api/openapi.json"), ("GET", "/api/docs")}
    assert served == {(m, p) for m, p in declared if p.startswith("/api/")}
    login = spec["paths"]["/api/auth/login"]["post"]
    body_ref = login["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref.endswith("/LoginBody")
    assert "password" in spec["components"]["schemas"]["LoginBody"]["properties"]
    assert "401" in login["responses"] and "security" not in login
    assert spec["paths"]["/api/rooms"]["post"]["security"] == [{"bearer": []}]


async def test_docs_page_lists_every_operation(server: RunningServer, api: Api) -> None:
    async with api.session.get(api.base_url + "/api/docs") as r:
        assert r.status == 200 and r.content_type == "text/html"
        page = await r.text()
    for e in endpoints():
        assert e.path in page
    assert "/api/openapi.json" in page
