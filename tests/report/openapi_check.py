#!/usr/bin/env python3
"""Checks a running hub's JSON API against its OpenAPI document (docs/api.yaml).

  openapi_check.py SPEC BASE_URL [--client-id ID] [--tg TG] [--token FILE]

* The paths and methods the hub lists at GET /api/v1 are exactly the document's.
* Every GET operation answers 200 with a body its 200 schema accepts (JSON Schema 2020-12, as
  OpenAPI 3.1 uses), with every documented query parameter tried once too; path parameters come
  from --client-id/--tg (else from the hub's own lists).
* Documented errors happen as documented: an unknown client is 404, a malformed query
  parameter 400, an undocumented /api/ path 404, each with a body the Error schema accepts.
* The event stream answers text/event-stream and starts with its retry hint.
* Every write operation: without a bearer it is 401; with --token's token and the document's
  example body and path parameters it answers one of its documented statuses with a body that
  status's schema accepts (in document order; kick is tried on an unknown client).

Prints one line per check and "openapi_check: N checks, M failed"; exits 1 on any failure.
"""
import argparse
import copy
import json
import sys
import time
import urllib.error
import urllib.request

import jsonschema
import yaml


def fetch(base, path, method="GET", body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    if method != "GET" and data is None:
        req.add_header("Content-Length", "0")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    # Over the hub's per-address budget (429): wait as told and ask again, as a client should.
    for _ in range(20):
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            if e.code != 429:
                return e.code, e.headers.get("Content-Type", ""), e.read()
            time.sleep(float(e.headers.get("Retry-After", "1")))
    return e.code, e.headers.get("Content-Type", ""), e.read()


class Checker:
    def __init__(self, spec, base):
        self.spec, self.base = spec, base
        self.checks = self.failed = 0

    def check(self, ok, what):
        self.checks += 1
        if not ok:
            self.failed += 1
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        return ok

    def schema(self, s):
        """A response schema with the document's components alongside, for $ref."""
        s = copy.deepcopy(s)
        s["components"] = self.spec["components"]
        return s

    def get(self, path, status, schema, what, method="GET", body=None, headers=None):
        code, ctype, body = fetch(self.base, path, method, body, headers)
        if isinstance(status, dict):  # any documented status, each with its schema
            if not self.check(str(code) in status,
                              f"{what}: {method} {path} -> {code} (documented: {sorted(status)})"):
                return None
            schema = status[str(code)]
        elif not self.check(code == status, f"{what}: {method} {path} -> {code} (want {status})"):
            return None
        if not self.check(ctype.startswith("application/json"), f"{what}: JSON ({ctype})"):
            return None
        try:
            doc = json.loads(body)
        except ValueError as e:
            self.check(False, f"{what}: body parses ({e})")
            return None
        errors = sorted(jsonschema.Draft202012Validator(self.schema(schema)).iter_errors(doc),
                        key=lambda e: list(e.path))
        self.check(not errors, f"{what}: body matches the schema"
                   + "".join(f"\n     {list(e.path)}: {e.message}" for e in errors[:5]))
        return doc

    def resolve(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            node = self.spec
            for part in obj["$ref"].lstrip("#/").split("/"):
                node = node[part]
            obj = node
        return obj

    def response_schema(self, op, status):
        r = self.resolve(op["responses"][str(status)])
        return r["content"]["application/json"]["schema"]


def check_event_stream(c, path):
    req = urllib.request.Request(c.base + path)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            ctype = r.headers.get("Content-Type", "")
            first = r.read1(64).decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        c.check(False, f"{path}: opens ({e})")
        return
    c.check(ctype.startswith("text/event-stream"), f"{path}: text/event-stream ({ctype})")
    c.check(first.startswith("retry: "), f"{path}: starts with the retry hint ({first!r})")


def check_writes(c, paths, values, token):
    for path, item in paths.items():
        for method in ("put", "post", "delete"):
            op = item.get(method)
            if op is None:
                continue
            url = path
            params = {p["name"]: p for p in (c.resolve(p) for p in op.get("parameters", []))}
            for name, p in params.items():
                v = p.get("example", values.get(name))
                if name == "id" and path.endswith("/kick"):
                    v = 4294967295  # kicking the test's own client would end its session
                url = url.replace("{" + name + "}", str(v))
            body = None
            if "requestBody" in op:
                body = op["requestBody"]["content"]["application/json"]["example"]
            statuses = {code: c.response_schema(op, code) for code in op["responses"]
                        if "application/json" in c.resolve(op["responses"][code]).get("content", {})}
            what = f"{method.upper()} {path}"
            c.get(url, 401, statuses["401"], f"{what} without a bearer", method.upper(), body)
            c.get(url, statuses, None, f"{what} with the API token", method.upper(), body,
                  {"Authorization": f"Bearer {token}"})


def example(param):
    s = param.get("schema", {})
    return max(1, s.get("minimum", 0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("base")
    ap.add_argument("--client-id", type=int)
    ap.add_argument("--tg", type=int)
    ap.add_argument("--token", help="file holding the API token: try every write with it")
    args = ap.parse_args()
    with open(args.spec) as f:
        spec = yaml.safe_load(f)
    jsonschema.Draft202012Validator.check_schema(
        {"components": spec["components"], "type": "object"})
    c = Checker(spec, args.base.rstrip("/"))

    paths = spec["paths"]
    listed = c.get("/api/v1", 200, c.response_schema(paths["/api/v1"]["get"], 200), "index")
    if listed is not None:
        served = sorted((e["path"], m) for e in listed["endpoints"] for m in e["methods"])
        documented = sorted((p, m) for p, item in paths.items() for m in item
                            if m in ("get", "put", "post", "delete"))
        c.check(served == documented,
                "the hub serves exactly the documented paths and methods: only served "
                f"{sorted(set(served) - set(documented))}, only documented "
                f"{sorted(set(documented) - set(served))}")

    # Path parameters: given, or taken from the hub's own lists.
    values = {"id": args.client_id, "tg": args.tg}
    if values["id"] is None:
        page = json.loads(fetch(c.base, "/api/v1/clients?limit=1")[2])
        values["id"] = page["clients"][0]["id"] if page["clients"] else 0
    if values["tg"] is None:
        tgs = json.loads(fetch(c.base, "/api/v1/talkgroups?limit=1")[2])
        values["tg"] = tgs["talkgroups"][0]["tg"] if tgs["talkgroups"] else 91

    for path, item in paths.items():
        op = item.get("get")
        if op is None:
            continue
        if "text/event-stream" in c.resolve(op["responses"]["200"]).get("content", {}):
            check_event_stream(c, path)
            continue
        url = path
        for name, v in values.items():
            url = url.replace("{" + name + "}", str(v))
        schema = c.response_schema(op, 200)
        c.get(url, 200, schema, path)
        params = [c.resolve(p) for p in op.get("parameters", [])]
        query = [p for p in params if p["in"] == "query"]
        for p in query:
            c.get(f"{url}?{p['name']}={example(p)}", 200, schema, f"{path} ?{p['name']}")
        if query:
            p = query[0]
            if "400" in op["responses"]:
                c.get(f"{url}?{p['name']}=abc", 400, c.response_schema(op, 400),
                      f"{path} ?{p['name']}=abc")
        if "404" in op["responses"]:
            bad = path.replace("{id}", "4294967295").replace("{tg}", "4294967295")
            c.get(bad, 404, c.response_schema(op, 404), f"{path} unknown")

    error = spec["components"]["schemas"]["Error"]
    c.get("/api/v1/no-such-thing", 404, error, "undocumented path")
    if args.token:
        with open(args.token) as f:
            check_writes(c, paths, values, f.readline().strip())
    print(f"openapi_check: {c.checks} checks, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
