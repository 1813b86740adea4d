#!/usr/bin/env python3
"""Writes the golden AdmissionReview fixtures of admission/webhook_test.cc.

Hand-written from the Kubernetes API reference (admission.k8s.io/v1
AdmissionReview, core/v1 Pod and Binding): `kubectl create/run --dry-run=client`
needs an API server even for client-side dry runs (checked on this machine:
"couldn't get current server API group list"), so the objects are written
here the way kubectl would print them (apiVersion, kind, metadata, spec).

Deterministic: gzip with mtime 0. Run from this directory:
    python3 make_fixtures.py
"""
import base64
import copy
import gzip
import hashlib
import io
import json

# CoCo initdata (trustee kbs/docs/initdata.md layout). The TDX one declares
# sha384 (MRCONFIGID is 48 bytes), the SNP one sha256 (HOST_DATA is 32).
INITDATA_TDX = '''algorithm = "sha384"
version = "0.1.0"

[data]
"aa.toml" = \'\'\'
[token_configs]
[token_configs.kbs]
url = "https://kbs.confidential.svc:8080"
\'\'\'
"cdh.toml" = \'\'\'
socket = "unix:///run/confidential-containers/cdh.sock"
[kbc]
name = "cc_kbc"
url = "https://kbs.confidential.svc:8080"
\'\'\'
'''
INITDATA_SNP = INITDATA_TDX.replace('algorithm = "sha384"', 'algorithm = "sha256"')
INITDATA_OTHER = INITDATA_TDX.replace("kbs.confidential.svc", "kbs.attacker.example")


def annotation(toml: str) -> str:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(toml.encode())
    return base64.b64encode(buf.getvalue()).decode()


DIGEST = "sha256:" + "4c1b" * 16
IMAGE = "registry.example.com/llm/server@" + DIGEST
INIT_IMAGE = "registry.example.com/llm/model-loader@sha256:" + "9e0f" * 16


def pod(runtime_class="kata-qemu-nvidia-gpu-tdx", initdata=INITDATA_TDX, image=IMAGE,
        node_name=None):
    annotations = {}
    if initdata is not None:
        annotations["io.katacontainers.config.hypervisor.cc_init_data"] = annotation(initdata)
    p = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "llm-0",
            "namespace": "confidential",
            "labels": {"app": "llm"},
            "annotations": annotations,
        },
        "spec": {
            "initContainers": [{"name": "model-loader", "image": INIT_IMAGE}],
            "containers": [{
                "name": "server",
                "image": image,
                "resources": {"limits": {"nvidia.com/gpu": "8"}},
            }],
            "restartPolicy": "Never",
        },
    }
    if runtime_class is not None:
        p["spec"]["runtimeClassName"] = runtime_class
    if node_name is not None:
        p["spec"]["nodeName"] = node_name
    return p


USER = {"username": "system:serviceaccount:confidential:deployer",
        "uid": "5b1b8b2a-1f0e-4f7a-9d7d-2b8f3a6c9e01",
        "groups": ["system:serviceaccounts", "system:authenticated"]}
SCHEDULER = {"username": "system:kube-scheduler", "groups": ["system:authenticated"]}


def review(uid, obj, operation="CREATE", sub="", dry_run=False, old=None):
    binding = sub == "binding"
    req = {
        "uid": uid,
        "kind": {"group": "", "version": "v1", "kind": "Binding" if binding else "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "requestKind": {"group": "", "version": "v1", "kind": "Binding" if binding else "Pod"},
        "requestResource": {"group": "", "version": "v1", "resource": "pods"},
        "name": "llm-0",
        "namespace": "confidential",
        "operation": operation,
        "userInfo": SCHEDULER if binding else USER,
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1",
                    "kind": {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions",
                             "DELETE": "DeleteOptions"}[operation]},
    }
    if sub:
        req["subResource"] = sub
        req["requestSubResource"] = sub
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


def binding(node):
    return {"apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": "llm-0", "namespace": "confidential",
                         "uid": "0c3e2d1a-7b6f-4e5d-8c9b-a1b2c3d4e5f6"},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}


fixtures = {
    "pod_create_allowed_tdx": review("a1000000-0000-4000-8000-000000000001", pod()),
    "pod_create_allowed_snp": review("a1000000-0000-4000-8000-000000000002",
                                     pod("kata-qemu-snp", INITDATA_SNP)),
    "pod_create_runtime_class_runc": review("a1000000-0000-4000-8000-000000000003",
                                            pod(runtime_class="runc")),
    "pod_create_no_runtime_class": review("a1000000-0000-4000-8000-000000000004",
                                          pod(runtime_class=None)),
    "pod_create_no_initdata": review("a1000000-0000-4000-8000-000000000005",
                                     pod(initdata=None)),
    "pod_create_initdata_not_allowed": review("a1000000-0000-4000-8000-000000000006",
                                              pod(initdata=INITDATA_OTHER)),
    "pod_create_initdata_wrong_tee": review("a1000000-0000-4000-8000-000000000007",
                                            pod("kata-qemu-snp", INITDATA_TDX)),
    "pod_create_image_not_pinned": review("a1000000-0000-4000-8000-000000000008",
                                          pod(image="nginx:1.27")),
    "pod_create_node_name_attested": review("a1000000-0000-4000-8000-000000000009",
                                            pod(node_name="gpu-node-1")),
    "pod_create_node_name_unknown": review("a1000000-0000-4000-8000-00000000000a",
                                           pod(node_name="gpu-node-2")),
    "pod_create_dry_run_denied": review("a1000000-0000-4000-8000-00000000000b",
                                        pod(image="nginx:1.27"), dry_run=True),
    "binding_attested": review("b2000000-0000-4000-8000-000000000001", binding("gpu-node-1"),
                               sub="binding"),
    "binding_stale": review("b2000000-0000-4000-8000-000000000002", binding("gpu-node-stale"),
                            sub="binding"),
    "binding_failing": review("b2000000-0000-4000-8000-000000000003", binding("gpu-node-bad"),
                              sub="binding"),
    "binding_unknown": review("b2000000-0000-4000-8000-000000000004", binding("gpu-node-2"),
                              sub="binding"),
    "binding_dry_run_attested": review("b2000000-0000-4000-8000-000000000005",
                                       binding("gpu-node-1"), sub="binding", dry_run=True),
    "pod_update_ignored": review("c3000000-0000-4000-8000-000000000001",
                                 pod(runtime_class="runc", image="nginx:1.27"),
                                 operation="UPDATE", old=pod()),
    "pod_delete_ignored": review("c3000000-0000-4000-8000-000000000002", None,
                                 operation="DELETE", old=pod(runtime_class="runc")),
}
wrong = copy.deepcopy(fixtures["pod_create_allowed_tdx"])
wrong["apiVersion"] = "admission.k8s.io/v1beta1"
wrong["request"]["uid"] = "d4000000-0000-4000-8000-000000000001"
fixtures["wrong_api_version"] = wrong

for name, doc in fixtures.items():
    with open(name + ".json", "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
with open("malformed.json", "w") as f:  # truncated in the middle of the object
    f.write(json.dumps(fixtures["binding_attested"], indent=2)[:300])

# The digests a policy allows (webhook_test.cc pins them).
def adjust(d, n):
    return (d[:n] + b"\0" * n)[:n].hex()
print("tdx mrconfigid (sha384):", adjust(hashlib.sha384(INITDATA_TDX.encode()).digest(), 48))
print("snp host_data (sha256): ", adjust(hashlib.sha256(INITDATA_SNP.encode()).digest(), 32))
