"""The OpenAPI 3.1 document of the HTTP API, generated from the routers' declarations
(``http_common.ApiRouter``) and their pydantic models, and a self-contained HTML page that
renders it (``/api/docs``: no CDN, no script).

pydantic v2 emits JSON Schema 2020-12, which is what OpenAPI 3.1 uses for schemas, so the
models' schemas go into ``components.schemas`` unchanged.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from game_server.http_common import Endpoint

REF = "#/components/schemas/{model}"
ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "enum": [
            "bad_request", "unauthorized", "forbidden", "not_found", "room_full",
            "rate_limited", "conflict", "unavailable", "internal"]},
        "message": {"type": "string"}}}},
}
STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad request",
               401: "Missing or invalid bearer token", 403: "Forbidden", 404: "Not found",
               409: "Conflict", 413: "Body too large", 429: "Rate limited",
               503: "Unavailable"}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop,
             **({"description": prop["description"]} if "description" in prop else {})}
            for name, prop in schema.get("properties", {}).items()]


def document(endpoints: Iterable[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document (a JSON-ready dict) of ``endpoints``."""
    endpoints = list(endpoints)
    models: dict[str, type[BaseModel]] = {}
    for e in endpoints:
        for m in (e.body, e.response, e.query):
            if m is None:
                continue
            if models.setdefault(m.__name__, m) is not m:
                raise ValueError(f"two API models are named {m.__name__} "
                                 f"({models[m.__name__].__module__}, {m.__module__}): "
                                 "OpenAPI names schemas by class name; rename one")
    models = {n: m for n, m in models.items()
              if any(m in (e.body, e.response) for e in endpoints)}
    _, defs = models_json_schema([(m, "validation") for m in models.values()],
                                 ref_template=REF)
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        op: dict[str, Any] = {"tags": [e.tag], "summary": e.summary,
                              "operationId": e.handler.__name__, "responses": {}}
        if e.description:
            op["description"] = e.description
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in re.findall(r"{(\w+)}", e.path)]
        if e.query is not None:
            params += _query_parameters(e.query)
        if params:
            op["parameters"] = params
        if e.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": REF.format(model=e.body.__name__)}}}}
        ok: dict[str, Any] = {"description": STATUS_TEXT.get(e.status, "OK")}
        if e.response is not None:
            ok["content"] = {"application/json": {
                "schema": {"$ref": REF.format(model=e.response.__name__)}}}
        op["responses"][str(e.status)] = ok
        for status in e.errors:
            op["responses"][str(status)] = {
                "description": STATUS_TEXT.get(status, "Error"),
                "content": {"application/json": {"schema": {"$ref": REF.format(
                    model="Error")}}}}
        if e.auth:
            op["security"] = [{"bearer": []}]
        paths.setdefault(e.path, {})[e.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Studyverse HTTP API. The real-time protocol (Socket.IO) is "
                                "described in DESIGN.md section 3."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }


def _schema_text(schema: dict[str, Any], schemas: dict[str, Any]) -> str:
    ref = schema.get("$ref", "")
    name = ref.rsplit("/", 1)[-1]
    target = schemas.get(name, schema)
    props = target.get("properties", {})
    required = set(target.get("required", []))
    if not props:
        return f"<code>{html.escape(name)}</code>"
    rows = "".join(
        f"<tr><td><code>{html.escape(k)}</code>{'' if k not in required else ' *'}</td>"
        f"<td>{html.escape(_type_of(v))}</td>"
        f"<td>{html.escape(str(v.get('description', '')))}</td></tr>"
        for k, v in props.items())
    return f"<b>{html.escape(name)}</b><table>{rows}</table>"


def _type_of(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " | ".join(_type_of(p) for p in prop["anyOf"])
    if prop.get("type") == "array":
        return f"array of {_type_of(prop.get('items', {}))}"
    if "enum" in prop:
        return " | ".join(repr(v) for v in prop["enum"])
    if "const" in prop:
        return repr(prop["const"])
    return str(prop.get("type", "any"))


def docs_page(doc: dict[str, Any]) -> str:
    """A static HTML page listing every operation with its parameters, body and answers."""
    schemas = doc["components"]["schemas"]
    parts = [f"<h1>{html.escape(doc['info']['title'])} {html.escape(doc['info']['version'])}"
             "</h1>", f"<p>{html.escape(doc['info']['description'])} "
             "Machine-readable: <a href='/api/openapi.json'>/api/openapi.json</a>.</p>"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            lock = " &#128274;" if "security" in op else ""
            parts.append(f"<section><h2><span class='m'>{method.upper()}</span> "
                         f"<code>{html.escape(path)}</code>{lock}</h2>"
                         f"<p>{html.escape(op['summary'])}</p>")
            if "description" in op:
                parts.append(f"<p class='d'>{html.escape(op['description'])}</p>")
            for p in op.get("parameters", []):
                parts.append(f"<div>{p['in']} <code>{html.escape(p['name'])}</code>"
                             f"{' *' if p['required'] else ''}: "
                             f"{html.escape(_type_of(p['schema']))}</div>")
            body = op.get("requestBody")
            if body:
                parts.append("<div>Body: " + _schema_text(
                    body["content"]["application/json"]["schema"], schemas) + "</div>")
            for status, answer in op["responses"].items():
                content = answer.get("content", {}).get("application/json")
                shown = _schema_text(content["schema"], schemas) if content else ""
                parts.append(f"<div><b>{status}</b> {html.escape(answer['description'])} "
                             f"{shown}</div>")
            parts.append("</section>")
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
             "padding:0 1rem}section{border-top:1px solid #ddd;padding:.5rem 0}"
             ".m{background:#234;color:#fff;padding:0 .4rem;border-radius:3px}"
             "table{border-collapse:collapse;margin:.3rem 0}td{border:1px solid #ddd;"
             "padding:.1rem .4rem;font-size:.9rem}h2{font-size:1.05rem}.d{color:#444}")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Studyverse API</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
