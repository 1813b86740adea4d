// Validates rendered Kubernetes manifests offline with kubernetes-models
// (per-kind JSON Schemas from the Kubernetes OpenAPI, ajv), then checks the
// admission webhook's settings that the schemas cannot express (issue 13):
// failurePolicy Fail, timeoutSeconds 5, sideEffects None, matchPolicy
// Equivalent, admissionReviewVersions [v1], a namespaceSelector that exempts
// kube-system and our own namespace, rules for pods and pods/binding CREATE,
// the service path /k8s/validate, and caBundle = the given CA certificate.
//
//   node validate_manifests.mjs [--only-webhook] RENDERED.yaml CA.crt
// --only-webhook: RENDERED is a whole deployment (the prod overlay with the
// certificate); only the webhook configuration, the Service
// attestation-rp-webhook and the Secret attestation-rp-webhook-tls are
// checked here (validate_schemas.mjs validates everything).
// Exit 0 when valid; 1 with one line per problem. Also proves the validator
// can fail: it re-validates mutated copies that must be refused.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";
import { ValidatingWebhookConfiguration } from "kubernetes-models/admissionregistration.k8s.io/v1";
import { Secret, Service } from "kubernetes-models/v1";

const onlyWebhook = process.argv[2] === "--only-webhook";
const [renderedPath, caPath] = process.argv.slice(onlyWebhook ? 3 : 2);
const docs = yaml.loadAll(readFileSync(renderedPath, "utf8")).filter(Boolean).filter((d) =>
  !onlyWebhook || d.kind === "ValidatingWebhookConfiguration" ||
  (d.kind === "Service" && d.metadata.name === "attestation-rp-webhook") ||
  (d.kind === "Secret" && d.metadata.name === "attestation-rp-webhook-tls"));
// kustomize folds Secret data at 70 columns; the API server's base64 decoder
// (Go encoding/base64) skips those line breaks, the schema's "byte" format
// does not: unfold before validating.
for (const d of docs) {
  if (d.kind === "Secret" && d.data) {
    for (const k of Object.keys(d.data)) d.data[k] = String(d.data[k]).replace(/\s+/g, "");
  }
}
const ca = readFileSync(caPath, "utf8");
const problems = [];
const kinds = {
  "admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration": ValidatingWebhookConfiguration,
  "v1/Service": Service,
  "v1/Secret": Secret,
};
const validate = (doc) => {
  const K = kinds[`${doc.apiVersion}/${doc.kind}`];
  if (!K) throw new Error(`no validator for ${doc.apiVersion}/${doc.kind}`);
  new K(doc).validate();
};
for (const doc of docs) {
  try {
    validate(doc);
    console.log(`ok   schema ${doc.kind} ${doc.metadata?.namespace ?? "-"}/${doc.metadata?.name}`);
  } catch (e) {
    problems.push(`${doc.kind} ${doc.metadata?.name}: ${e.message}`);
  }
}
const want = (cond, what) => { if (!cond) problems.push(what); };
const vwc = docs.find((d) => d.kind === "ValidatingWebhookConfiguration");
const svc = docs.find((d) => d.kind === "Service");
const secret = docs.find((d) => d.kind === "Secret");
want(vwc && svc && secret, "expected a ValidatingWebhookConfiguration, a Service and a Secret");
if (vwc && svc && secret) {
  want(vwc.webhooks.length >= 1, "no webhooks");
  for (const w of vwc.webhooks) {
    const at = `webhook ${w.name}`;
    want(w.failurePolicy === "Fail", `${at}: failurePolicy must be Fail`);
    want(w.timeoutSeconds === 5, `${at}: timeoutSeconds must be 5`);
    want(w.sideEffects === "None", `${at}: sideEffects must be None`);
    want(w.matchPolicy === "Equivalent", `${at}: matchPolicy must be Equivalent`);
    want(JSON.stringify(w.admissionReviewVersions) === '["v1"]', `${at}: admissionReviewVersions`);
    const s = w.clientConfig?.service ?? {};
    want(s.path === "/k8s/validate", `${at}: service path`);
    want(s.name === svc.metadata.name && s.namespace === svc.metadata.namespace,
         `${at}: service reference does not match the Service`);
    want((s.port ?? 443) === svc.spec.ports[0].port, `${at}: service port`);
    want(Buffer.from(w.clientConfig.caBundle ?? "", "base64").toString() === ca,
         `${at}: caBundle is not the CA certificate`);
    const exprs = w.namespaceSelector?.matchExpressions ?? [];
    const exempt = exprs.find((e) => e.key === "kubernetes.io/metadata.name" && e.operator === "NotIn");
    want(exempt && exempt.values.includes("kube-system") &&
         exempt.values.includes(svc.metadata.namespace),
         `${at}: namespaceSelector must exempt kube-system and ${svc.metadata.namespace}`);
    const resources = (w.rules ?? []).flatMap((r) => r.operations.includes("CREATE") ? r.resources : []);
    want(resources.includes("pods") && resources.includes("pods/binding"),
         `${at}: rules must cover pods and pods/binding CREATE`);
  }
  want(secret.type === "kubernetes.io/tls" && secret.data?.["tls.crt"] && secret.data?.["tls.key"],
       "the Secret must be a kubernetes.io/tls secret with tls.crt and tls.key");
  // The validator itself must refuse broken objects (so a pass means something).
  const mutations = [
    ["timeoutSeconds as a string", (o) => { o.webhooks[0].timeoutSeconds = "5"; }],
    ["sideEffects Maybe", (o) => { o.webhooks[0].sideEffects = "Maybe"; }],
    ["no clientConfig", (o) => { delete o.webhooks[0].clientConfig; }],
    ["failurePolicy Sometimes", (o) => { o.webhooks[0].failurePolicy = "Sometimes"; }],
    ["caBundle not base64", (o) => { o.webhooks[0].clientConfig.caBundle = "%%%"; }],
    ["operation MAKE", (o) => { o.webhooks[0].rules[0].operations = ["MAKE"]; }],
  ];
  for (const [name, mutate] of mutations) {
    const copy = structuredClone(vwc);
    mutate(copy);
    let refused = false;
    try { validate(copy); } catch { refused = true; }
    want(refused, `the validator accepted a mutated configuration (${name})`);
    if (refused) console.log(`ok   refused: ${name}`);
  }
}
if (problems.length) {
  for (const p of problems) console.error(`FAIL: ${p}`);
  process.exit(1);
}
console.log(`PASS: ${docs.length} manifests valid; webhook settings as required`);
