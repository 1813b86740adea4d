#!/usr/bin/env python3
"""Builds evidence bundles (ARCHITECTURE §4 JSON) from the real TDX and NVIDIA
vectors in tests/data/{tdx,nvidia}, byte for byte (base64 of the quote /
report, the PEM chain as base64 as NVIDIA's tools send it, the QVL collateral
JSON as is). Also lays out an offline collateral directory with the NVIDIA
test RIMs that match the H100 545.00 report. Re-run after changing vectors:

    python3 tests/data/bundles/make_bundles.py
"""
import base64
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)


def b64(data):
    return base64.b64encode(data).decode()


def write(name, bundle):
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(bundle, f, indent=1, sort_keys=True)
        f.write("\n")


def tdx(folder, strip_trailing=None):
    d = os.path.join(DATA, "tdx", folder)
    quote = open(os.path.join(d, "quote.bin"), "rb").read()
    bundle = {"tdx": {"quote": b64(quote)}}
    coll = os.path.join(d, "collateral.json")
    if os.path.exists(coll):
        bundle["tdx"]["collateral"] = json.load(open(coll))
    write("tdx_" + folder, bundle)


def gpu(name, report_hex, chain_pem, arch="HOPPER"):
    report = bytes.fromhex(open(os.path.join(DATA, "nvidia", report_hex)).read().strip())
    chain = open(os.path.join(DATA, "nvidia", chain_pem), "rb").read()
    write(name, {"nvidia": {"arch": arch, "evidence_list": [
        {"evidence": b64(report), "certificate": b64(chain)}]}})


for f in ("phala_uptodate", "phala_no_tcb_level", "gotdx_v5"):
    tdx(f)
gpu("gpu_h100_drv545.00", "hopper/h100_drv545.00_vbios96005E0001_report.hex",
    "hopper/h100_drv545.00_vbios96005E0001_certchain.pem")
gpu("gpu_h100_drv550.90.07", "hopper/h100_drv550.90.07_vbios96009F0001_report.hex",
    "hopper/h100_drv550.90.07_vbios96009F0001_certchain.pem")
gpu("gpu_gb100_drv575.32", "blackwell/gb100_drv575.32_vbios970088000F_report.hex",
    "blackwell/gb100_drv575.32_vbios970088000F_certchain.pem", arch="BLACKWELL")
gpu("gpu_h100_NEG_badsig", "hopper/h100_drv560.00_g520_NEG_badsig_report.hex",
    "hopper/h100_drv550.90.07_vbios96009F0001_certchain.pem")

# Offline collateral: the NVIDIA-signed test RIMs for the 545.00 report.
rims = os.path.join(HERE, "offline", "nvidia", "rims")
os.makedirs(rims, exist_ok=True)
src = os.path.join(DATA, "nvidia", "rims", "store_545.00_testnogpu")
for f in sorted(os.listdir(src)):
    shutil.copyfile(os.path.join(src, f), os.path.join(rims, f))

# Offline Intel collateral for gotdx_v5 (no QVL collateral.json exists for
# it): the PCS TCB info body as Intel serves it, its issuer chain and the
# root CA CRL from the phala_no_tcb_level collateral (the same Intel
# certificates; the CRL is current at 2026-02-15).
intel = os.path.join(HERE, "offline", "intel")
os.makedirs(os.path.join(intel, "tcb_info"), exist_ok=True)
shutil.copyfile(os.path.join(DATA, "tdx", "gotdx_v5", "pcs_tcb_info_response.json"),
                os.path.join(intel, "tcb_info", "90c06f000000.json"))
other = json.load(open(os.path.join(DATA, "tdx", "phala_no_tcb_level", "collateral.json")))
with open(os.path.join(intel, "tcb_info", "90c06f000000.issuer_chain.pem"), "w") as f:
    f.write(other["tcb_info_issuer_chain"])
with open(os.path.join(intel, "root_ca.crl"), "wb") as f:
    f.write(bytes.fromhex(other["root_ca_crl"]))
