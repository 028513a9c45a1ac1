#!/usr/bin/env python3
"""Checks a running hub's JSON API against its OpenAPI document (docs/api.yaml).

  openapi_check.py SPEC BASE_URL [--client-id ID] [--tg TG]

* The paths the hub lists at GET /api/v1 are exactly the document's paths.
* Every GET operation answers 200 with a body its 200 schema accepts (JSON Schema 2020-12, as
  OpenAPI 3.1 uses), with every documented query parameter tried once too; path parameters come
  from --client-id/--tg (else from the hub's own lists).
* Documented errors happen as documented: an unknown client is 404, a malformed query
  parameter 400, an undocumented /api/ path 404, each with a body the Error schema accepts.

Prints one line per check and "openapi_check: N checks, M failed"; exits 1 on any failure.
"""
import argparse
import copy
import json
import sys
import urllib.error
import urllib.request

import jsonschema
import yaml


def fetch(base, path):
    try:
        with urllib.request.urlopen(base + path, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
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

    def get(self, path, status, schema, what):
        code, ctype, body = fetch(self.base, path)
        if not self.check(code == status, f"{what}: GET {path} -> {code} (want {status})"):
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


def example(param):
    s = param.get("schema", {})
    return max(1, s.get("minimum", 0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("base")
    ap.add_argument("--client-id", type=int)
    ap.add_argument("--tg", type=int)
    args = ap.parse_args()
    with open(args.spec) as f:
        spec = yaml.safe_load(f)
    jsonschema.Draft202012Validator.check_schema(
        {"components": spec["components"], "type": "object"})
    c = Checker(spec, args.base.rstrip("/"))

    paths = spec["paths"]
    listed = c.get("/api/v1", 200, c.response_schema(paths["/api/v1"]["get"], 200), "index")
    if listed is not None:
        c.check(sorted(listed["endpoints"]) == sorted(paths),
                f"the hub serves exactly the documented paths: served {sorted(listed['endpoints'])}"
                f", documented {sorted(paths)}")

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
    print(f"openapi_check: {c.checks} checks, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
