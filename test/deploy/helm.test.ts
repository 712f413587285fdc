/**
 * deploy/helm/forestd: rendered by a real helm (shipped in an npm package, installed into
 * scripts/test-tools), every object validated against its API's schema (Kubernetes, Prometheus
 * Operator), and checked against forestd's settings with the same checks as deploy/k8s. The
 * chart's `settings:` values are generated from config/settings.ts; this test keeps them so.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { parse as parseYaml } from "yaml";
import { loadSettings, parseBind } from "../../config/load-settings.js";
import { SETTINGS } from "../../config/settings.js";
import { helmSettingsValues, helmValuesSchema } from "../../scripts/docs/settings-helm.js";
import { ROOT } from "../helpers/fixtures.js";
import {
  CHART,
  chartError,
  checkServer,
  type K8sObject,
  renderChart,
  testTool,
  validateAll,
} from "../helpers/k8s.js";
import { testPki } from "../helpers/tls.js";

const EXAMPLES = join(ROOT, "deploy", "helm", "examples");

const kinds = (objects: K8sObject[]) => objects.map((o) => o.kind).sort();
const only = (objects: K8sObject[], kind: string) => {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`${found.length} ${kind} objects`);
  return found[0];
};
const server = (objects: K8sObject[]) => ({
  configMap: objects.find(
    (o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-settings"),
  ) as K8sObject,
  workload: only(objects, "Deployment"),
  services: objects.filter((o) => o.kind === "Service"),
  hpa: objects.find((o) => o.kind === "HorizontalPodAutoscaler"),
  pdbs: objects.filter((o) => o.kind === "PodDisruptionBudget"),
});
const podSpec = (objects: K8sObject[]) => only(objects, "Deployment").spec.template.spec;

t.test("values.yaml has every setting, generated from config/settings.ts", async (t) => {
  const text = readFileSync(join(CHART, "values.yaml"), "utf8");
  t.ok(text.includes(helmSettingsValues()), "run `npm run docs` after changing a setting");
  const values = parseYaml(text) as { settings: Record<string, unknown> };
  t.same(
    Object.keys(values.settings),
    SETTINGS.map((s) => s.env),
    "one value per setting, in the table's order",
  );
});

t.test("values.schema.json, generated too, stops impossible settings before anything renders", async (t) => {
  const schema = JSON.parse(readFileSync(join(CHART, "values.schema.json"), "utf8"));
  t.same(schema, JSON.parse(helmValuesSchema()), "run `npm run docs` after changing a setting");
  t.match(
    chartError(["settings.WOKERS=2"]),
    /additional properties 'WOKERS' not allowed/,
    "a misspelt setting",
  );
  t.match(chartError(["settings.WORKERS=0"]), /\/settings\/WORKERS/, "WORKERS below 1");
  t.match(chartError(["settings.LOG_LEVEL=loud"]), /\/settings\/LOG_LEVEL/, "an unknown log level");
  t.match(chartError(["settings.ACCESS_LOG=maybe"]), /\/settings\/ACCESS_LOG/, "not a boolean");
  t.equal(
    chartError(["settings.ACCESS_LOG=off", "settings.MAX_QUEUE_WAIT=0.5"]),
    "",
    "the text forms forestd reads",
  );
});

t.test("helm lint --strict passes, with each example's values", async (t) => {
  for (const values of [
    [],
    ...["blue-green", "canary"].map((e) => ["--values", join(EXAMPLES, `${e}.yaml`)]),
  ]) {
    const run = spawnSync(testTool(".bin", "helm"), ["lint", "--strict", CHART, ...values], {
      encoding: "utf8",
    });
    t.equal(run.status, 0, `helm lint --strict ${values.join(" ")}\n${run.stdout}${run.stderr}`);
  }
});

t.test("defaults: a hardened Deployment that agrees with forestd's settings", async (t) => {
  const objects = renderChart();
  t.same(
    kinds(objects),
    [
      "ConfigMap",
      "Deployment",
      "HorizontalPodAutoscaler",
      "PodDisruptionBudget",
      "Service",
      "ServiceAccount",
    ],
    "the expected objects",
  );
  validateAll(t, objects);
  const settings = await checkServer(t, server(objects));

  // The chart's values are forestd's defaults, except the two it derives.
  const defaults = (await loadSettings({ argv: [], env: {} })).settings as Record<string, unknown>;
  for (const [key, value] of Object.entries(settings)) {
    if (key === "workers") t.equal(value, 2, "WORKERS = the CPU request (2), not the node's CPUs");
    else t.same(value, defaults[key], `${key}: forestd's default`);
  }
  t.notOk(only(objects, "ConfigMap").data?.MODEL_PATH, "the image's bundled model");
});

t.test("settings, ports, grace period and WORKERS follow the values", async (t) => {
  const objects = renderChart({
    set: [
      "settings.BIND=0.0.0.0:8080",
      "settings.METRICS_PORT=9100",
      "settings.GRACEFUL_TIMEOUT=60",
      "settings.BODY_LIMIT=20971520",
      "settings.MAX_QUEUE_WAIT=0.02",
      "resources.requests.cpu=1500m",
      "autoscaling.enabled=false",
      "replicaCount=3",
    ],
  });
  validateAll(t, objects);
  const settings = await checkServer(t, server(objects));
  t.equal(parseBind(settings.bind[0]).port, 8080);
  t.equal(settings.metrics_port, 9100);
  t.equal(settings.body_limit, 20971520, "a large whole number stays a whole number (not 2.097152e+07)");
  t.equal(settings.max_queue_wait, 0.02);
  t.equal(settings.workers, 2, "1500m CPUs → 2 workers");
  t.equal(podSpec(objects).terminationGracePeriodSeconds, 5 + 60 + 10, "preStop + GRACEFUL_TIMEOUT + margin");
  t.equal(only(objects, "Deployment").spec.replicas, 3, "replicas without an HPA");

  const metricsOff = renderChart({ set: ["settings.METRICS_PORT=0"] });
  const ports = podSpec(metricsOff).containers[0].ports.map((p: { name: string }) => p.name);
  t.same(ports, ["http"], "METRICS_PORT=0: no metrics port");
  t.equal(only(metricsOff, "ConfigMap").data?.METRICS_PORT, "0", "0 is kept, not replaced by the default");

  // gRPC is off by default; settings.GRPC_PORT opens it on the container and the Service.
  t.notOk(
    podSpec(objects).containers[0].ports.some((p: { name: string }) => p.name === "grpc"),
    "no grpc port by default",
  );
  const grpcOn = renderChart({ set: ["settings.GRPC_PORT=8001"] });
  validateAll(t, grpcOn);
  t.same(
    podSpec(grpcOn).containers[0].ports.find((p: { name: string }) => p.name === "grpc"),
    { name: "grpc", containerPort: 8001, protocol: "TCP" },
    "GRPC_PORT: the container's grpc port",
  );
  const grpcService = only(grpcOn, "Service").spec.ports.find((p: { name: string }) => p.name === "grpc");
  t.match(
    grpcService,
    { port: 8001, targetPort: "grpc", appProtocol: "kubernetes.io/h2c" },
    "and the Service's",
  );
  const grpcSettings = await checkServer(t, server(grpcOn));
  t.equal(grpcSettings.grpc_port, 8001);
});

t.test(
  "extraEnv: variables that are not settings reach the container; settings are refused there",
  async (t) => {
    const objects = renderChart({
      set: [
        "extraEnv[0].name=OTEL_EXPORTER_OTLP_ENDPOINT",
        "extraEnv[0].value=http://otel-collector.observability:4318",
        "extraEnv[1].name=OTEL_SERVICE_NAME",
        "extraEnv[1].value=forestd",
      ],
    });
    validateAll(t, objects);
    t.same(podSpec(objects).containers[0].env, [
      { name: "OTEL_EXPORTER_OTLP_ENDPOINT", value: "http://otel-collector.observability:4318" },
      { name: "OTEL_SERVICE_NAME", value: "forestd" },
    ]);
    t.equal(podSpec(renderChart()).containers[0].env, undefined, "none by default");
    t.match(
      chartError(["extraEnv[0].name=WORKERS", "extraEnv[0].value=8"]),
      /extraEnv\/0\/name/,
      "a forestd setting belongs in settings",
    );
  },
);

t.test("model from a volume: mounted read-only where MODEL_PATH points", async (t) => {
  const objects = renderChart({
    set: [
      "model.source=volume",
      "model.file=churn.ubj",
      "model.volume.persistentVolumeClaim.claimName=models",
    ],
  });
  validateAll(t, objects);
  const settings = await checkServer(t, server(objects));
  const pod = podSpec(objects);
  const mount = pod.containers[0].volumeMounts.find((m: { name: string }) => m.name === "models");
  t.match(mount, { mountPath: "/models", readOnly: true });
  t.equal(settings.model_path, "/models/churn.ubj", "MODEL_PATH under the mount");
  t.same(
    pod.volumes.find((v: { name: string }) => v.name === "models"),
    { name: "models", persistentVolumeClaim: { claimName: "models" } },
  );
  t.equal(settings.model_name, "churn", "the model answers to its file's name");
});

t.test("model from S3: an init container copies it with the ServiceAccount's role (IRSA)", async (t) => {
  const role = "arn:aws:iam::123456789012:role/forestd-models";
  const objects = renderChart({
    set: [
      "model.source=s3",
      "model.s3.uri=s3://models/churn/v3/model.json",
      `serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=${role}`,
    ],
  });
  validateAll(t, objects);
  const settings = await checkServer(t, server(objects));
  const pod = podSpec(objects);
  const account = only(objects, "ServiceAccount");
  t.equal(pod.serviceAccountName, account.metadata.name, "the pod runs as the chart's ServiceAccount");
  t.equal(account.metadata.annotations?.["eks.amazonaws.com/role-arn"], role, "IRSA role annotation");
  const [init] = pod.initContainers;
  t.same(init.args.slice(0, 4), ["s3", "cp", "s3://models/churn/v3/model.json", settings.model_path]);
  t.match(init.image, /^amazon\/aws-cli:\d+\.\d+\.\d+$/, "the AWS CLI, pinned");
  const writes = init.volumeMounts.find((m: { name: string }) => m.name === "models");
  t.ok(settings.model_path.startsWith(`${writes.mountPath}/`), "it writes where MODEL_PATH points");
  t.ok(pod.volumes.find((v: { name: string }) => v.name === "models").emptyDir, "into a pod-local volume");
  t.equal(init.securityContext.readOnlyRootFilesystem, true, "the init container is hardened too");
});

t.test("Ingress, ServiceMonitor, PrometheusRule and the Grafana dashboard", async (t) => {
  const objects = renderChart({
    set: [
      "ingress.enabled=true",
      "ingress.className=nginx",
      "ingress.hosts[0].host=forestd.example.com",
      "ingress.hosts[0].paths[0].path=/",
      "metrics.serviceMonitor.enabled=true",
      "metrics.prometheusRule.enabled=true",
      "grafanaDashboard.enabled=true",
    ],
  });
  validateAll(t, objects);
  const parts = server(objects);
  await checkServer(t, parts);
  const [service] = parts.services;
  const servicePorts = service.spec.ports.map((p: { name: string }) => p.name);

  const backend = only(objects, "Ingress").spec.rules[0].http.paths[0].backend.service;
  t.equal(backend.name, service.metadata.name, "the Ingress routes to the Service");
  t.ok(servicePorts.includes(backend.port.name), "on a port the Service has");

  const monitor = only(objects, "ServiceMonitor");
  t.ok(
    Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => service.metadata.labels?.[k] === v),
    "the ServiceMonitor selects the Service",
  );
  t.ok(servicePorts.includes(monitor.spec.endpoints[0].port), "it scrapes a port the Service has");
  t.equal(monitor.spec.endpoints[0].port, "metrics", "the metrics port (METRICS_PORT)");
  t.equal(
    service.metadata.labels?.[monitor.spec.jobLabel],
    "forestd",
    'job="forestd", as alerts.yml expects',
  );

  const rule = only(objects, "PrometheusRule");
  const alerts = parseYaml(readFileSync(join(ROOT, "deploy", "prometheus", "alerts.yml"), "utf8"));
  t.same(rule.spec, alerts, "the PrometheusRule is deploy/prometheus/alerts.yml");

  const dashboard = objects.find((o) => o.metadata.name.endsWith("-dashboard")) as K8sObject;
  t.equal(dashboard.metadata.labels?.grafana_dashboard, "1", "labelled for Grafana's sidecar");
  t.same(
    JSON.parse(dashboard.data?.["forestd.json"] ?? "{}"),
    JSON.parse(readFileSync(join(ROOT, "deploy", "grafana", "forestd.json"), "utf8")),
    "the dashboard is deploy/grafana/forestd.json",
  );
});

t.test("PodMonitor instead of the ServiceMonitor", async (t) => {
  const objects = renderChart({ set: ["metrics.podMonitor.enabled=true"] });
  validateAll(t, objects);
  const monitor = only(objects, "PodMonitor");
  const pod = only(objects, "Deployment").spec.template;
  t.ok(
    Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => pod.metadata.labels[k] === v),
    "the PodMonitor selects the pods",
  );
  const ports = pod.spec.containers[0].ports.map((p: { name: string }) => p.name);
  t.ok(ports.includes(monitor.spec.podMetricsEndpoints[0].port), "it scrapes a container port");
  t.equal(pod.metadata.labels[monitor.spec.jobLabel], "forestd", 'job="forestd"');
});

t.test(
  "a model repository: read by forestd from S3, or mounted; the API's token from a Secret",
  async (t) => {
    const objects = renderChart({
      set: [
        "model.source=repository",
        "model.repository.uri=s3://models/repo/",
        "settings.REPOSITORY_API=true",
        "settings.MODEL_POLL_INTERVAL=30",
        "repositoryApi.tokenSecret.name=forestd-repository-api",
      ],
    });
    validateAll(t, objects);
    // The token the Secret holds is no ConfigMap entry: forestd's environment gets it from the Secret.
    const { settings } = await loadSettings({
      argv: [],
      env: { ...server(objects).configMap.data, REPOSITORY_API_TOKEN: "a-token-from-the-secret" },
    });
    t.equal(settings.model_repository, "s3://models/repo/", "MODEL_REPOSITORY");
    t.equal(settings.repository_api, true);
    const pod = podSpec(objects);
    t.notOk(pod.initContainers, "no init container: forestd reads the repository itself");
    t.same(
      pod.containers[0].env.find((e: { name: string }) => e.name === "REPOSITORY_API_TOKEN"),
      {
        name: "REPOSITORY_API_TOKEN",
        valueFrom: { secretKeyRef: { name: "forestd-repository-api", key: "token" } },
      },
      "the token from its Secret",
    );
    t.notOk(
      JSON.stringify(server(objects).configMap.data).includes("REPOSITORY_API_TOKEN"),
      "and not in the settings ConfigMap",
    );
    const mounted = renderChart({
      set: ["model.source=repository", "model.volume.persistentVolumeClaim.claimName=models"],
    });
    validateAll(t, mounted);
    t.equal((await checkServer(t, server(mounted))).model_repository, "/models", "a volume's repository");
    t.match(
      podSpec(mounted).containers[0].volumeMounts.find((m: { name: string }) => m.name === "models"),
      { mountPath: "/models", readOnly: true },
    );
  },
);

t.test(
  "TLS from a Secret: mounted read-only, the settings pointed at it, probes and scrapes over HTTPS",
  async (t) => {
    const objects = renderChart({
      set: [
        "tls.secretName=forestd-tls",
        "tls.caKey=ca.crt",
        "settings.CERT_REQS=1",
        "settings.METRICS_CERT_REQS=2",
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.tlsConfig.ca.secret.name=forestd-tls",
        "metrics.serviceMonitor.tlsConfig.ca.secret.key=ca.crt",
      ],
    });
    validateAll(t, objects);
    const data = only(objects, "ConfigMap").data as Record<string, string>;
    t.match(
      data,
      {
        CERTFILE: "/etc/forestd/tls/tls.crt",
        KEYFILE: "/etc/forestd/tls/tls.key",
        CA_CERTS: "/etc/forestd/tls/ca.crt",
        CERT_REQS: "1",
        METRICS_CERT_REQS: "2",
      },
      "CERTFILE, KEYFILE and CA_CERTS name the Secret's files",
    );
    // The same settings, with the Secret's files standing in for by a test CA's: forestd takes them.
    const pki = testPki();
    const issued = pki.server("forestd");
    const env = { ...data, CERTFILE: issued.certFile, KEYFILE: issued.keyFile, CA_CERTS: pki.ca.certFile };
    const { settings } = await loadSettings({ argv: [], env });
    t.equal(settings.metrics_cert_reqs, 2, "forestd accepts the chart's TLS settings");

    const pod = podSpec(objects);
    const container = pod.containers[0];
    t.same(
      pod.volumes.find((v: { name: string }) => v.name === "tls"),
      { name: "tls", secret: { secretName: "forestd-tls", defaultMode: 0o440 } },
      "the Secret, its files readable by owner and group only",
    );
    t.same(
      container.volumeMounts.find((m: { name: string }) => m.name === "tls"),
      { name: "tls", mountPath: "/etc/forestd/tls", readOnly: true },
      "mounted whole (no subPath), so that its files are updated in place",
    );
    for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"])
      t.equal(container[probe].httpGet.scheme, "HTTPS", `${probe} over HTTPS`);
    t.equal(only(objects, "Deployment").spec.template.metadata.annotations["prometheus.io/scheme"], "https");
    const endpoint = only(objects, "ServiceMonitor").spec.endpoints[0];
    t.equal(endpoint.scheme, "https", "the ServiceMonitor scrapes over HTTPS");
    t.same(
      endpoint.tlsConfig,
      { ca: { secret: { name: "forestd-tls", key: "ca.crt" } } },
      "with its tlsConfig",
    );

    const plain = renderChart({ set: ["metrics.podMonitor.enabled=true"] });
    t.equal(
      podSpec(plain).containers[0].readinessProbe.httpGet.scheme,
      "HTTP",
      "without a Secret, HTTP as before",
    );
    t.notOk(
      podSpec(plain).volumes.some((v: { name: string }) => v.name === "tls"),
      "and nothing mounted",
    );
    t.equal(only(plain, "PodMonitor").spec.podMetricsEndpoints[0].scheme, "http");
    t.notOk(only(plain, "ConfigMap").data?.CERTFILE, "nor CERTFILE set");

    t.match(
      chartError(["tls.secretName=forestd-tls", "settings.CERT_REQS=2"]),
      /CERT_REQS 2 would refuse the kubelet's probes/,
      "CERT_REQS 2 is refused: the kubelet sends no client certificate",
    );
    t.match(
      chartError(["settings.KEYFILE=/keys/key.pem"]),
      /settings\.KEYFILE names a file in the pod: leave it empty and mount a Secret with tls\.secretName/,
      "file settings come from the Secret",
    );
  },
);

t.test("values that cannot work stop the render with a reason", async (t) => {
  t.match(chartError(["model.source=repository"]), /needs model\.repository\.uri .* or model\.volume/);
  t.match(
    chartError(["settings.REPOSITORY_API_TOKEN=0123456789abcdef0"]),
    /REPOSITORY_API_TOKEN/,
    "a credential in the settings is refused",
  );
  t.match(chartError(["settings.REPOSITORY_API=true"]), /repositoryApi\.tokenSecret\.name/);
  t.match(chartError(["settings.MODEL_REPOSITORY=/x"]), /leave it empty/);
  t.match(chartError(["model.source=s3"]), /model\.s3\.uri is required/);
  t.match(chartError(["model.source=volume"]), /model\.volume is required/);
  t.match(chartError(["model.source=http"]), /model\.source must be image, volume or s3/);
  t.match(
    chartError(["model.source=s3", "model.s3.uri=s3://b/m.json", "settings.MODEL_PATH=/x.json"]),
    /leave settings\.MODEL_PATH empty/,
  );
  t.match(chartError(["metrics.serviceMonitor.enabled=true", "metrics.podMonitor.enabled=true"]), /not both/);
  t.match(chartError(["rollout.strategy=recreate"]), /rollout\.strategy must be/);
});
