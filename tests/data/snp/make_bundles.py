#!/usr/bin/env python3
"""Builds evidence bundles (ARCHITECTURE §4 JSON) from the real SNP vectors in
this folder, for `attestctl verify --evidence`. Dev-time tool: its output is
committed under bundles/, so tests need no Python. Re-run after changing the
vectors: python3 tests/data/snp/make_bundles.py
"""
import base64, json, os, subprocess

HERE = os.path.dirname(os.path.abspath(__file__))

def pem_of(der_path):
    return subprocess.run(["openssl", "x509", "-inform", "DER", "-in", der_path],
                          check=True, capture_output=True, text=True).stdout

def bundle(report, cert, kind="vcek", chain=None, nonce=None, binding=None):
    b = {"sev_snp": {"report": base64.b64encode(open(report, "rb").read()).decode()}}
    b["sev_snp"][kind] = pem_of(cert)
    if chain:
        b["sev_snp"]["cert_chain"] = open(chain).read()
    if nonce:
        b["nonce"] = nonce
    if binding:
        b["binding"] = binding
    return b

# (bundle name, folder, report file, cert file, kind, extra)
SAMPLES = [
    ("milan_v2_gsg", "milan_v2_gsg", "report.bin", "vcek.der", "vcek", {}),
    ("milan_v2_trustee", "milan_v2_trustee", "report.bin", "vcek.der", "vcek", {}),
    ("milan_v3_vlek_aws_trustee", "milan_v3_vlek_aws_trustee", "report.bin", "vlek.der", "vlek", {}),
    ("azure_milan_v2_hcl_trustee", "azure_milan_v2_hcl_trustee", "report.bin", "vcek.der", "vcek", {}),
    ("azure_milan_v3_trustee_v0", "azure_milan_v3_trustee_evidence_v0_v1", "report_v0.bin", "vcek.der", "vcek", {}),
    ("azure_milan_v3_trustee_v1", "azure_milan_v3_trustee_evidence_v0_v1", "report_v1.bin", "vcek.der", "vcek", {}),
    ("azure_milan_v2_constellation", "azure_milan_v2_constellation", "report.bin", "vcek.der", "vcek", {}),
    ("milan_v3_oak_oc_release", "milan_v3_oak_oc", "report_release.bin", "vcek.der", "vcek", {}),
    ("milan_v3_oak_oc_staging", "milan_v3_oak_oc", "report_staging.bin", "vcek.der", "vcek", {}),
    ("milan_v3_oak_cb", "milan_v3_oak_cb", "report.bin", "vcek.der", "vcek", {}),
    ("milan_v3_oak_cb_with_chain", "milan_v3_oak_cb", "report.bin", "vcek.der", "vcek",
     {"chain": "collateral/gsg_ask_ark_milan.pem"}),
    ("azure_genoa_v3_trustee", "azure_genoa_v3_trustee", "report.bin", "vcek.der", "vcek", {}),
    ("siena_genoa_family_v3_trustee_e2e", "siena_genoa_family_v3_trustee_e2e", "report_reconstructed.bin", "vcek.der", "vcek", {}),
    ("genoa_v5_oak", "genoa_v5_oak", "report.bin", "vcek.der", "vcek", {}),
    ("turin_v5_oak", "turin_v5_oak", "report.bin", "vcek.der", "vcek", {}),
    # Negatives.
    ("negative_vlek_unmatched", "negative", "vlek_report_v2_unmatched_constellation.bin",
     "vlek_unmatched_constellation.der", "vlek", {}),
    ("negative_vcek_badsig_raw_hwid", "milan_v2_trustee", "report.bin",
     "../negative/vcek_badsig_raw_hwid.der", "vcek", {}),
    ("negative_vcek_badsig_octetstring_hwid", "milan_v2_trustee", "report.bin",
     "../negative/vcek_badsig_octetstring_hwid.der", "vcek", {}),
    # A real report with a cert of another chip: chip ID and TCB must not match.
    ("negative_wrong_vcek", "milan_v3_oak_cb", "report.bin", "../milan_v3_oak_oc/vcek.der", "vcek", {}),
]

def main():
    out = os.path.join(HERE, "bundles")
    os.makedirs(out, exist_ok=True)
    for name, folder, rep, cert, kind, extra in SAMPLES:
        d = os.path.join(HERE, folder)
        chain = os.path.join(HERE, extra["chain"]) if "chain" in extra else None
        b = bundle(os.path.join(d, rep), os.path.join(d, cert), kind, chain)
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(b, f, indent=1)
            f.write("\n")
    print("wrote", len(SAMPLES), "bundles to", out)

if __name__ == "__main__":
    main()
