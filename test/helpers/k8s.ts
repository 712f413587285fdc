/**
 * Checks shared by the tests of forestd's Kubernetes manifests (deploy/k8s rendered by kustomize,
 * deploy/helm rendered by helm, the Argo Rollouts and KServe files): every object is validated
 * against its API's schema, and the server's objects must agree with forestd's own settings.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { AnalysisTemplate } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate";
import { Rollout } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import type { Test } from "tap";
import { parseAllDocuments } from "yaml";
import { loadSettings, parseBind } from "../../config/load-settings.js";
import { SETTINGS, type Settings } from "../../config/settings.js";
import { ROOT } from "./fixtures.js";

/** A binary installed by scripts/install-test-deps.sh into scripts/test-tools (no Debian package has it). */
export function testTool(...path: string[]): string {
  const file = join(ROOT, "scripts", "test-tools", "node_modules", ...path);
  if (!existsSync(file)) throw new Error(`${file} not found: run scripts/install-test-deps.sh`);
  return file;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: rendered YAML, checked field by field
  spec?: any;
  data?: Record<string, string>;
}

/** Runs a renderer (kustomize build, helm template) and parses the YAML stream it prints. */
export function renderWith(binary: string, args: string[]): K8sObject[] {
  const text = execFileSync(binary, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return parseAllDocuments(text)
    .map((d) => d.toJSON() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

type Model = new (data: never) => { validate(): void };
/** The schema of every API the manifests use: Kubernetes', Argo Rollouts' and the Prometheus Operator's. */
const MODELS: Record<string, Model> = {
  "apps/v1/Deployment": Deployment,
  "v1/Service": Service,
  "v1/ConfigMap": ConfigMap,
  "v1/ServiceAccount": ServiceAccount,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "networking.k8s.io/v1/Ingress": Ingress,
  "argoproj.io/v1alpha1/Rollout": Rollout,
  "argoproj.io/v1alpha1/AnalysisTemplate": AnalysisTemplate,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
  "monitoring.coreos.com/v1/PodMonitor": PodMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
};

export function validateAll(t: Test, objects: K8sObject[]): void {
  for (const o of objects) {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    t.ok(Model, `${o.kind} ${o.apiVersion} is a known, current API`);
    if (Model)
      t.doesNotThrow(() => new Model(o as never).validate(), `${o.kind}/${o.metadata.name} is valid`);
  }
}

export function quantity(q: string | number): number {
  const m = /^([0-9.]+)(m|Ki|Mi|Gi|Ti)?$/.exec(String(q));
  if (!m) throw new Error(`unknown quantity ${q}`);
  const units: Record<string, number> = { m: 0.001, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  return Number(m[1]) * (m[2] ? units[m[2]] : 1);
}

/** The README's stated RSS bound under overload, for one worker. */
const RSS_BOUND_BYTES = 1024 ** 3;

/** The forestd environment a ConfigMap holds, checked to be known settings that load. */
export async function settingsOf(t: Test, configMap: K8sObject): Promise<Settings> {
  const env = configMap.data ?? {};
  const known = new Set<string>(SETTINGS.map((s) => s.env));
  for (const key of Object.keys(env)) t.ok(known.has(key), `${key} is a forestd setting`);
  const { settings } = await loadSettings({ argv: [], env });
  t.pass(`ConfigMap ${configMap.metadata.name} is a valid forestd environment`);
  return settings;
}

export interface ServerObjects {
  configMap: K8sObject;
  /** The Deployment or Argo Rollout running forestd. */
  workload: K8sObject;
  services: K8sObject[];
  hpa?: K8sObject;
  pdbs: K8sObject[];
}

/**
 * The pods run forestd as its settings say: ports and probes where the server listens and
 * answers, a grace period covering preStop plus GRACEFUL_TIMEOUT, WORKERS within the CPU request,
 * hardened, selected by their Services, scaled and protected by the HPA and PDB.
 */
export async function checkServer(t: Test, objects: ServerObjects): Promise<Settings> {
  const { configMap, workload, services, hpa, pdbs } = objects;
  const settings = await settingsOf(t, configMap);
  const pod = workload.spec.template.spec;
  const container = pod.containers.find((c: { name: string }) => c.name === "forestd") ?? pod.containers[0];
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
  const annotations = workload.spec.template.metadata.annotations;
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

  const podLabels = workload.spec.template.metadata.labels;
  const selects = (selector: Record<string, string>) =>
    Object.entries(selector).every(([k, v]) => podLabels[k] === v);
  t.ok(selects(workload.spec.selector.matchLabels), `the ${workload.kind} selects its pods`);
  for (const service of services) {
    t.ok(selects(service.spec.selector), `Service ${service.metadata.name} selects the pods`);
    for (const p of service.spec.ports)
      t.ok(portOf(p.targetPort), `Service ${service.metadata.name} port ${p.name} targets a container port`);
  }
  if (hpa) {
    t.match(
      hpa.spec.scaleTargetRef,
      { apiVersion: workload.apiVersion, kind: workload.kind, name: workload.metadata.name },
      `the HPA scales the ${workload.kind}`,
    );
  }
  for (const pdb of pdbs) {
    t.ok(selects(pdb.spec.selector.matchLabels), "the PDB selects the pods");
    if (hpa) t.ok(pdb.spec.minAvailable < hpa.spec.minReplicas, "the PDB leaves room to drain a node");
  }
  return settings;
}

export const CHART = join(ROOT, "deploy", "helm", "forestd");
const HELM = () => testTool(".bin", "helm");

/** `helm template` of deploy/helm/forestd as release "forestd" in namespace "forestd". */
export function renderChart(options: { values?: string[]; set?: string[] } = {}): K8sObject[] {
  const args = ["template", "forestd", CHART, "--namespace", "forestd"];
  for (const file of options.values ?? []) args.push("--values", file);
  for (const pair of options.set ?? []) args.push("--set", pair);
  return renderWith(HELM(), args);
}

/** The error `helm template` stops with for these values. */
export function chartError(set: string[]): string {
  try {
    renderChart({ set });
  } catch (error) {
    return String((error as { stderr?: string }).stderr ?? error);
  }
  return "";
}
