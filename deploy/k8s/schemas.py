"""Validate built manifests against their schemas, offline and strictly.

    .cache/k8s-tools/bin/python deploy/k8s/schemas.py --kubernetes-version 1.34 built.yaml...

Kubernetes kinds go to kubernetes-validate's strict schemas (an unknown field fails).
Custom resources go to the openAPIV3Schema of their CRD in deploy/k8s/crds/, made strict
the same way: the API server would silently prune an unknown (misspelt) field, so here
every object that lists its properties refuses others unless the CRD preserves unknown
fields. CEL rules (x-kubernetes-validations) are not evaluated. Their metadata is checked
against Kubernetes' ObjectMeta. Runs in the tool venv that validate.py prepares.
"""

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import referencing
import yaml
from kubernetes_validate import utils as kv

CRD_DIR = Path(__file__).resolve().parent / "crds"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

Schema = dict[str, Any]


def strict(schema: Any) -> Any:
    """A copy of a CRD schema in which unlisted properties are errors and nullable works."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_schemas() -> dict[tuple[str, str], Schema]:
    """(apiVersion, kind) -> strict schema, for every served version of every CRD kept."""
    schemas = {}
    for path in sorted(CRD_DIR.rglob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    schema = strict(version["schema"]["openAPIV3Schema"])
                    schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


def object_meta_validator(kubernetes_version: str) -> jsonschema.protocols.Validator:
    """A strict validator of ObjectMeta from kubernetes-validate's definitions."""
    version = [v for v in kv.all_versions() if kv.major_minor(v) <= kubernetes_version][-1]
    definitions = kv.schema_contents(
        f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version
    )
    registry = referencing.Resource.from_contents(definitions) @ referencing.Registry()
    ref = {"$ref": f"{definitions['$id']}#/$defs/{OBJECT_META}"}
    return jsonschema.Draft202012Validator(ref, registry=registry)


def where(error: jsonschema.ValidationError) -> str:
    return "/".join(str(part) for part in error.absolute_path) or "(root)"


def check(
    doc: dict[str, Any],
    kubernetes_version: str,
    crds: dict[tuple[str, str], Schema],
    meta: jsonschema.protocols.Validator,
) -> Iterator[str]:
    """Every schema error of one resource, as 'path: message'."""
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    if key in crds:
        validator = jsonschema.Draft7Validator(crds[key])
        for error in sorted(validator.iter_errors(doc), key=str):
            yield f"{where(error)}: {error.message}"
        for error in meta.iter_errors(doc.get("metadata", {})):
            yield f"metadata/{where(error)}: {error.message}"
        return
    try:
        kubernetes_validate.validate(doc, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        yield f"{where(error)}: {error.message}"
    except kubernetes_validate.SchemaNotFoundError:
        yield f"no schema for {key[0]} {key[1]} in Kubernetes {kubernetes_version} or crds/"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-version", required=True)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    crds = crd_schemas()
    meta = object_meta_validator(args.kubernetes_version)
    findings = 0
    for path in args.files:
        docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        for doc in docs:
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            for problem in check(doc, args.kubernetes_version, crds, meta):
                findings += 1
                print(f"{path.name}: {name}: {problem}")
        print(f"{path.name}: {len(docs)} resources checked")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
