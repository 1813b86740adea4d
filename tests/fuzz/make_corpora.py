#!/usr/bin/env python3
"""Regenerates the seed corpora of tests/fuzz from the real vectors in
tests/data (and a few fixtures). Idempotent; run from anywhere.
Seeds that need keys (jwe, jwt, jwk) were made once with release/jwe_tool
and server/token/token_tool and are committed as they are (see
docs/testing.md); this script leaves those directories alone."""
import base64, glob, json, os, re, shutil, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FUZZ = os.path.join(ROOT, "tests", "fuzz")
D = os.path.join(ROOT, "tests", "data")


def out(target, name, data):
    d = os.path.join(FUZZ, target + "_corpus")
    os.makedirs(d, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(os.path.join(d, name), mode) as f:
        f.write(data)


def read(p, mode="rb"):
    with open(p, mode) as f:
        return f.read()


# TDX quotes (struct target; the byte-level target already has them).
for q in sorted(glob.glob(f"{D}/tdx/*/quote.bin")):
    out("tdx_quote_struct_fuzzer", os.path.basename(os.path.dirname(q)) + ".bin", read(q))

# SPDM reports: hex -> bytes.
for h in sorted(glob.glob(f"{D}/nvidia/hopper/*_report.hex") + glob.glob(f"{D}/nvidia/blackwell/*_report.hex")):
    b = bytes.fromhex(re.sub(r"\s+", "", read(h, "r")))
    name = os.path.basename(h).replace("_report.hex", ".bin")
    out("spdm_report_fuzzer", name, b)
    out("spdm_struct_fuzzer", name, b)

# RIMs: the driver RIM, a few VBIOS RIMs, the negative ones.
for x in (sorted(glob.glob(f"{D}/nvidia/rims/driver/*.xml")) + sorted(glob.glob(f"{D}/nvidia/rims/vbios/*.xml"))[:3]
          + sorted(glob.glob(f"{D}/nvidia/rims/negative/*.xml"))):
    out("rim_parser_fuzzer", os.path.basename(x), read(x))

# TCB info / QE identity: PCS bodies, the signed text alone, QVL collateral JSON.
for p in sorted(glob.glob(f"{D}/tdx/*/pcs_tcb_info_response.json")):
    body = read(p, "r")
    vec = os.path.basename(os.path.dirname(p))
    out("tcb_info_fuzzer", vec + "_pcs.json", body)
    out("tcb_info_fuzzer", vec + "_tcbinfo.json", json.dumps(json.loads(body)["tcbInfo"]))
for p in sorted(glob.glob(f"{D}/tdx/*/pcs_qe_identity_response.json")):
    body = read(p, "r")
    vec = os.path.basename(os.path.dirname(p))
    out("qe_identity_fuzzer", vec + "_pcs.json", body)
    out("qe_identity_fuzzer", vec + "_identity.json", json.dumps(json.loads(body)["enclaveIdentity"]))
for p in sorted(glob.glob(f"{D}/tdx/*/collateral.json")):
    c = json.loads(read(p, "r"))
    vec = os.path.basename(os.path.dirname(p))
    out("tcb_info_fuzzer", vec + "_qvl.json", read(p, "r"))
    if c.get("tcb_info"):
        out("tcb_info_fuzzer", vec + "_qvl_tcbinfo.json", c["tcb_info"])
    if c.get("qe_identity"):
        out("qe_identity_fuzzer", vec + "_qvl_identity.json", c["qe_identity"])

# PCK certificates (DER) and their SGX extension contents, cut from the quotes.
try:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    for q in sorted(glob.glob(f"{D}/tdx/*/quote.bin")):
        raw = read(q)
        start = raw.find(b"-----BEGIN CERTIFICATE-----")
        if start < 0:
            continue
        leaf = x509.load_pem_x509_certificate(raw[start:raw.find(b"-----END CERTIFICATE-----", start) + 25])
        vec = os.path.basename(os.path.dirname(q))
        out("pck_extensions_fuzzer", vec + "_leaf.der", leaf.public_bytes(Encoding.DER))
        ext = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.2.840.113741.1.13.1"))
        out("pck_extensions_fuzzer", vec + "_sgx_ext.der", ext.value.value)
except ImportError:
    print("python3-cryptography missing: pck_extensions_fuzzer seeds not refreshed", file=sys.stderr)

# Evidence bundles (JSON): the real ones of each kind.
for p in (sorted(glob.glob(f"{D}/bundles/*.json")) + sorted(glob.glob(f"{D}/snp/bundles/*.json"))[:6]):
    if "expected" in p:
        continue
    out("evidence_bundle_fuzzer", os.path.basename(p), read(p))
ev = sorted(glob.glob(f"{D}/nvidia/evidence_json/*.json"))
if ev:
    out("evidence_bundle_fuzzer", "nvidia_list_" + os.path.basename(ev[0]), read(ev[0]))

# AdmissionReviews: the webhook's golden fixtures.
for p in sorted(glob.glob(f"{ROOT}/admission/testdata/*.json")):
    if os.path.basename(p) != "expected.json":
        out("admission_review_fuzzer", os.path.basename(p), read(p))

# Policies: the shipped ones and the test one.
for p in sorted(glob.glob(f"{ROOT}/deploy/policies/*.yaml")) + sorted(glob.glob(f"{D}/policies/*.yaml")):
    out("policy_yaml_fuzzer", os.path.basename(p), read(p))
