#include "tests/testing/gpu_evidence_builder.h"

#include <openssl/x509.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/x509.h"

namespace rp::testing {
namespace {

using nvidia::GpuArch;
using nvidia::MeasurementBlock;
using nvidia::OpaqueField;
namespace ot = nvidia::opaque_type;

void PutU16Le(Bytes& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v & 0xFF));
  out.push_back(static_cast<uint8_t>(v >> 8));
}

void PutU24Le(Bytes& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v & 0xFF));
  out.push_back(static_cast<uint8_t>((v >> 8) & 0xFF));
  out.push_back(static_cast<uint8_t>((v >> 16) & 0xFF));
}

void Append(Bytes& out, std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }

// DER TLV with a definite, minimal length.
Bytes Der(uint8_t tag, std::span<const uint8_t> content) {
  Bytes out = {tag};
  const size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<uint8_t>(n));
  } else if (n < 0x100) {
    out.push_back(0x81);
    out.push_back(static_cast<uint8_t>(n));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<uint8_t>(n >> 8));
    out.push_back(static_cast<uint8_t>(n & 0xFF));
  }
  Append(out, content);
  return out;
}

Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) Append(out, p);
  return out;
}

const Bytes kSha384Oid = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02};

Bytes FwidSequence(std::span<const uint8_t> digest) {
  return Der(0x30, Cat({kSha384Oid, Der(0x04, digest)}));
}

Bytes Text(std::string_view s) { return Bytes(s.begin(), s.end()); }

CertSpec CaSpec(std::string cn, Bytes serial, const GpuPkiOptions& o) {
  CertSpec s;
  s.common_name = std::move(cn);
  s.subject_extra = {{"O", "NVIDIA Corporation"}};
  s.serial = std::move(serial);
  s.not_before = o.not_before;
  s.not_after = o.not_after;
  s.is_ca = true;
  return s;
}

}  // namespace

Bytes EncodeOpaqueFields(const std::vector<OpaqueField>& fields) {
  Bytes out;
  for (const OpaqueField& f : fields) {
    PutU16Le(out, f.type);
    PutU16Le(out, static_cast<uint16_t>(f.value.size()));
    Append(out, f.value);
  }
  return out;
}

absl::Status AppendSpdmSignature(const EVP_PKEY* key, Bytes& report) {
  absl::StatusOr<Bytes> sig = crypto::SignEcdsaP1363(key, report, /*sha384=*/true);
  if (!sig.ok()) return sig.status();
  if (sig->size() != nvidia::kSignatureSize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("AppendSpdmSignature: %d-byte signature (P-384 key needed)", sig->size()));
  }
  Append(report, *sig);
  return absl::OkStatus();
}

Bytes PaddedText(std::string_view text, size_t width) {
  Bytes out(text.begin(), text.end());
  out.resize(std::max(width, text.size() + 1), 0);
  return out;
}

GpuReportBuilder::GpuReportBuilder() {
  for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<uint8_t>(i);
  for (size_t i = 0; i < responder_nonce.size(); ++i) {
    responder_nonce[i] = static_cast<uint8_t>(0xA0 + i);
  }
  for (int i = 1; i <= 64; ++i) {
    MeasurementBlock b;
    b.index = static_cast<uint8_t>(i);
    b.value_type = 0x01;
    b.value.resize(48);
    for (size_t k = 0; k < b.value.size(); ++k) b.value[k] = static_cast<uint8_t>(i + k);
    blocks.push_back(std::move(b));
  }
  Bytes msrscnt;
  for (int i = 0; i < 64; ++i) {
    msrscnt.push_back(static_cast<uint8_t>(i % 3));
    msrscnt.resize(msrscnt.size() + 3, 0);
  }
  opaque = {
      {ot::kVbiosVersion, {0x00, 0x9F, 0x00, 0x96, 0x01, 0x00, 0x00, 0x00}},
      {ot::kBoardId, {0xB1, 0x03, 0x00, 0x00}},
      {ot::kChipSku, PaddedText("882", 9)},
      {ot::kChipSkuMod, PaddedText("0", 5)},
      {ot::kProject, PaddedText("1010", 5)},
      {ot::kProjectSku, PaddedText("0200", 5)},
      {ot::kProjectSkuMod, Bytes(2, 0)},
      {ot::kDriverVersion, PaddedText("550.90.07", 10)},
      {ot::kGpuInfo, {0x80, 0x01, 0, 0, 0, 0, 0, 0}},
      {ot::kMsrsCnt, msrscnt},
      {ot::kCprInfo, {0x00, 0xC0, 0x01, 0x00}},
      {ot::kNvdec0Status, {nvidia::kStatusDisabled}},
      {ot::kFwid, Bytes(nvidia::kFwidSize, 0x5A)},
      {ot::kProtectedPcieStatus, {nvidia::kStatusDisabled}},
  };
}

GpuReportBuilder& GpuReportBuilder::SetNonce(std::span<const uint8_t> n) {
  std::fill(nonce.begin(), nonce.end(), 0);
  std::copy_n(n.begin(), std::min(n.size(), nonce.size()), nonce.begin());
  return *this;
}

GpuReportBuilder& GpuReportBuilder::SetOpaque(uint16_t type, Bytes value) {
  for (OpaqueField& f : opaque) {
    if (f.type == type) {
      f.value = std::move(value);
      return *this;
    }
  }
  opaque.push_back(OpaqueField{type, std::move(value)});
  return *this;
}

GpuReportBuilder& GpuReportBuilder::RemoveOpaque(uint16_t type) {
  opaque.erase(std::remove_if(opaque.begin(), opaque.end(),
                              [type](const OpaqueField& f) { return f.type == type; }),
               opaque.end());
  return *this;
}

GpuReportBuilder& GpuReportBuilder::SetFwid(std::span<const uint8_t> fwid) {
  return SetOpaque(ot::kFwid, Bytes(fwid.begin(), fwid.end()));
}

GpuReportBuilder& GpuReportBuilder::SetPpcie(const std::vector<Bytes>& pdis) {
  SetOpaque(ot::kProtectedPcieStatus, {nvidia::kStatusEnabled});
  Bytes all;
  for (const Bytes& p : pdis) Append(all, p);
  SetOpaque(ot::kSwitchPdi, all);
  SetOpaque(ot::kOpaqueDataVersion, {0x01, 0x00});
  SetOpaque(ot::kFeatureFlag, {0x02, 0x00});
  return *this;
}

Bytes GpuReportBuilder::BuildUnsigned() const {
  Bytes out = {request_version, request_code, request_param1, request_param2};
  Append(out, nonce);
  out.push_back(slot_id);
  Bytes record;
  for (const MeasurementBlock& b : blocks) {
    record.push_back(b.index);
    record.push_back(measurement_spec);
    PutU16Le(record, static_cast<uint16_t>(3 + b.value.size()));
    record.push_back(b.value_type);
    PutU16Le(record, static_cast<uint16_t>(b.value.size()));
    Append(record, b.value);
  }
  for (uint8_t v : {response_version, response_code, response_param1, response_param2,
                    number_of_blocks_override.value_or(static_cast<uint8_t>(blocks.size()))}) {
    out.push_back(v);
  }
  PutU24Le(out, static_cast<uint32_t>(record.size()));
  Append(out, record);
  Append(out, responder_nonce);
  const Bytes od = EncodeOpaqueFields(opaque);
  PutU16Le(out, static_cast<uint16_t>(od.size()));
  Append(out, od);
  return out;
}

absl::StatusOr<Bytes> GpuReportBuilder::BuildSigned(const EVP_PKEY* key) const {
  Bytes out = BuildUnsigned();
  if (absl::Status s = AppendSpdmSignature(key, out); !s.ok()) return s;
  return out;
}

absl::StatusOr<Bytes> HopperFwidExtension(const EVP_PKEY* key, std::span<const uint8_t> fwid) {
  const int n = i2d_PUBKEY(key, nullptr);
  if (n <= 0) return absl::InternalError("i2d_PUBKEY");
  Bytes spki(static_cast<size_t>(n));
  unsigned char* p = spki.data();
  if (i2d_PUBKEY(key, &p) != n) return absl::InternalError("i2d_PUBKEY");
  return Der(0x30, Cat({Der(0x02, Bytes{0x01}), spki, FwidSequence(fwid)}));
}

Bytes BlackwellFwidExtension(std::string_view model, std::span<const uint8_t> fwid) {
  const Bytes zeros(nvidia::kFwidSize, 0);
  return Der(0x30, Cat({Der(0x80, Text("NVIDIA")), Der(0x81, Text(model)), Der(0x82, Text("01")),
                        Der(0x83, Bytes{0x01}), Der(0x84, Bytes{0x00}), Der(0x85, Bytes{0x00}),
                        Der(0xA6, Cat({FwidSequence(fwid), FwidSequence(zeros)})),
                        Der(0x87, Bytes{0x00, 0x80, 0x00, 0x00, 0x01})}));
}

std::string ChipName(GpuArch arch) { return arch == GpuArch::kHopper ? "GH100" : "GB100"; }

std::string GpuTestPki::RootPem() const { return crypto::CertificatePem(root.cert.get()); }

absl::StatusOr<GpuTestPki> MakeGpuTestPki(const GpuPkiOptions& options) {
  GpuTestPki pki;
  pki.options = options;
  const std::string chip = ChipName(options.arch);
  absl::StatusOr<Issued> root =
      MakeRoot(CaSpec(options.root_cn, {0x2D, 0x36, 0x70}, options), KeyType::kEcP384);
  if (!root.ok()) return root.status();
  pki.root = *std::move(root);
  absl::StatusOr<Issued> identity =
      MakeCert(CaSpec(absl::StrFormat("NVIDIA %s Identity", chip), {0x11}, options),
               KeyType::kEcP384, pki.root.cert.get(), pki.root.key.get());
  if (!identity.ok()) return identity.status();
  pki.identity = *std::move(identity);
  absl::StatusOr<Issued> provisioner = MakeCert(
      CaSpec(absl::StrFormat("NVIDIA %s Provisioner ICA 1", chip), {0x22}, options),
      KeyType::kEcP384, pki.identity.cert.get(), pki.identity.key.get());
  if (!provisioner.ok()) return provisioner.status();
  pki.provisioner = *std::move(provisioner);
  return pki;
}

absl::StatusOr<GpuTestDevice> MakeGpuTestDevice(const GpuTestPki& pki,
                                                const GpuDeviceOptions& options) {
  GpuTestDevice dev;
  const std::string chip = ChipName(pki.options.arch);
  // "<chip> A01 <engine>": the GPU's GSP, the NVSwitch's FSP.
  const std::string prefix = !options.name_prefix.empty() ? options.name_prefix
                             : options.nvswitch           ? std::string("LS_10 A01 FSP")
                                                          : absl::StrFormat("%s A01 GSP", chip);
  absl::StatusOr<Issued> brom =
      MakeCert(CaSpec(absl::StrFormat("%s BROM", prefix), options.brom_serial, pki.options),
               KeyType::kEcP384, pki.provisioner.cert.get(), pki.provisioner.key.get());
  if (!brom.ok()) return brom.status();
  dev.brom = *std::move(brom);

  absl::StatusOr<crypto::OpensslPtr<EVP_PKEY>> key = MakeKey(options.leaf_key);
  if (!key.ok()) return key.status();
  CertSpec leaf;
  leaf.common_name = absl::StrFormat("%s FMC LF", prefix);
  leaf.subject_extra = {{"O", "NVIDIA Corporation"}};
  leaf.serial = options.leaf_serial;
  leaf.not_before = pki.options.not_before;
  leaf.not_after = pki.options.not_after;
  if (options.fwid_extension) {
    const bool hopper_ext = (pki.options.arch == GpuArch::kHopper || options.nvswitch) !=
                            options.wrong_fwid_extension;
    if (options.fwid_extension_value) {
      leaf.extensions.push_back({hopper_ext ? nvidia::kHopperFwidOid : nvidia::kBlackwellFwidOid,
                                 *options.fwid_extension_value, false});
    } else if (hopper_ext) {
      absl::StatusOr<Bytes> ext = HopperFwidExtension(key->get(), options.fwid);
      if (!ext.ok()) return ext.status();
      leaf.extensions.push_back({nvidia::kHopperFwidOid, *std::move(ext), false});
    } else {
      leaf.extensions.push_back(
          {nvidia::kBlackwellFwidOid,
           BlackwellFwidExtension(absl::StrFormat("%s A01 GSP", chip), options.fwid), false});
    }
  }
  absl::StatusOr<crypto::OpensslPtr<X509>> cert =
      MakeCertForKey(leaf, key->get(), dev.brom.cert.get(), dev.brom.key.get());
  if (!cert.ok()) return cert.status();
  dev.leaf.cert = *std::move(cert);
  dev.leaf.key = *std::move(key);
  return dev;
}

std::string GpuChainPem(const GpuTestPki& pki, const GpuTestDevice& device) {
  std::string out;
  for (const X509* c : {device.leaf.cert.get(), device.brom.cert.get(), pki.provisioner.cert.get(),
                        pki.identity.cert.get(), pki.root.cert.get()}) {
    out += crypto::CertificatePem(c);
  }
  return out;
}

}  // namespace rp::testing
