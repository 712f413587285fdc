/**
 * deploy/kserve: the ClusterServingRuntime and the example InferenceService. No npm package carries
 * KServe's models, so the runtime's own fields are checked against the shape of KServe's
 * ServingRuntimeSpec (below) and everything Kubernetes-typed in it (containers, volumes) against
 * the Kubernetes schemas. Then the contract KServe relies on is run for real: forestd started with
 * the runtime's environment, {{.Name}} filled in as KServe does and a directory standing in for
 * /mnt/models, answers the runtime's probes and the v2 protocol at the InferenceService's name.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Container } from "kubernetes-models/v1/Container";
import { Volume } from "kubernetes-models/v1/Volume";
import t from "tap";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { parseBind } from "../../config/load-settings.js";
import { defaultModelPath } from "../../model/index.js";
import { ROOT } from "../helpers/fixtures.js";
import { type K8sObject, settingsOf } from "../helpers/k8s.js";
import { freePort, postJson, request, startServer, waitFor } from "../helpers/server.js";

const read = (file: string) =>
  parseYaml(readFileSync(join(ROOT, "deploy", "kserve", file), "utf8")) as K8sObject;
const runtime = read("cluster-serving-runtime.yaml");
const isvc = read("inference-service.yaml");
/** Where KServe's storage initializer puts the storageUri's contents, in the serving container. */
const KSERVE_MODEL_DIR = "/mnt/models";

/** The fields of KServe's ServingRuntimeSpec (serving.kserve.io/v1alpha1, KServe 0.15–0.20). */
const SERVING_RUNTIME_FIELDS = new Set([
  "affinity",
  "annotations",
  "builtInAdapter",
  "containers",
  "disabled",
  "grpcDataEndpoint",
  "grpcEndpoint",
  "hostIPC",
  "httpDataEndpoint",
  "imagePullSecrets",
  "labels",
  "multiModel",
  "nodeSelector",
  "protocolVersions",
  "replicas",
  "resourceClaims",
  "schedulerName",
  "storageHelper",
  "supportedModelFormats",
  "tolerations",
  "volumes",
  "workerSpec",
]);
const PROTOCOLS = ["v1", "v2", "grpc-v1", "grpc-v2"];

const container = runtime.spec.containers[0];
const env = Object.fromEntries(
  (container.env as { name: string; value: string }[]).map((e) => [e.name, e.value]),
);
/** KServe's templating of a runtime's env and args ({{.Name}} is the InferenceService's name). */
const templated = (text: string) => text.replaceAll("{{.Name}}", isvc.metadata.name);

t.test("the ClusterServingRuntime has KServe's shape and valid Kubernetes parts", async (t) => {
  t.equal(runtime.apiVersion, "serving.kserve.io/v1alpha1");
  t.equal(runtime.kind, "ClusterServingRuntime");
  for (const key of Object.keys(runtime.spec))
    t.ok(SERVING_RUNTIME_FIELDS.has(key), `spec.${key} is a field`);
  for (const format of runtime.spec.supportedModelFormats) {
    t.type(format.name, "string");
    t.type(format.version, "string", "version is a string (a number would be rejected)");
    t.type(format.autoSelect, "boolean");
    t.ok(Number.isInteger(format.priority) && format.priority >= 1, "priority a positive integer");
  }
  for (const p of runtime.spec.protocolVersions) t.ok(PROTOCOLS.includes(p), `protocol ${p}`);
  t.equal(container.name, "kserve-container", "the container KServe mounts the model into");
  for (const c of runtime.spec.containers)
    t.doesNotThrow(() => new Container(c).validate(), `container ${c.name} is valid`);
  for (const v of runtime.spec.volumes ?? [])
    t.doesNotThrow(() => new Volume(v).validate(), `volume ${v.name} is valid`);
  t.equal(container.securityContext.runAsNonRoot, true, "non-root");
  t.equal(container.securityContext.readOnlyRootFilesystem, true, "read-only root filesystem");
});

t.test("the InferenceService is served by this runtime, on the v2 protocol", async (t) => {
  t.equal(isvc.apiVersion, "serving.kserve.io/v1beta1");
  t.equal(isvc.kind, "InferenceService");
  const { model } = isvc.spec.predictor;
  t.equal(model.runtime, runtime.metadata.name, "names the runtime");
  t.ok(
    runtime.spec.supportedModelFormats.some(
      (f: { name: string; autoSelect: boolean }) => f.name === model.modelFormat.name && f.autoSelect,
    ),
    "its model format is one the runtime serves (and autoSelect would choose it too)",
  );
  t.ok(runtime.spec.protocolVersions.includes(model.protocolVersion), `protocol ${model.protocolVersion}`);
  t.match(model.storageUri, /^(s3|gs|pvc|https?):\/\/.+\.(json|ubj)$/, "a model file's storageUri");
});

t.test("the runtime's environment runs forestd where KServe expects it", async (t) => {
  const settings = await settingsOf(t, {
    ...runtime,
    metadata: { name: "runtime env" },
    data: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, k === "MODEL_PATH" ? v : templated(v)])),
  });
  t.equal(env.MODEL_PATH, KSERVE_MODEL_DIR, "MODEL_PATH is KServe's model directory");
  t.equal(settings.model_name, isvc.metadata.name, "the model answers to the InferenceService's name");
  const { host, port } = parseBind(settings.bind[0]);
  t.equal(host, "0.0.0.0");
  t.equal(port, container.ports[0].containerPort, "BIND port = the container port");
  t.equal(container.readinessProbe.httpGet.port, port, "readiness probe on that port");
  t.equal(container.livenessProbe.httpGet.port, port, "liveness probe on that port");
  t.equal(
    Number(runtime.spec.annotations["prometheus.kserve.io/port"]),
    settings.metrics_port,
    "KServe's scrape port = METRICS_PORT",
  );

  // forestd as KServe would start it, with a directory like /mnt/models holding the model file;
  // on loopback and a free port here rather than BIND's 0.0.0.0:8080 (startServer's BIND).
  const { BIND: _bind, ...kserveEnv } = env;
  const mnt = mkdtempSync(join(tmpdir(), "forestd-mnt-models-"));
  copyFileSync(defaultModelPath(), join(mnt, "model.json"));
  const metricsPort = await freePort();
  const server = await startServer({
    ...Object.fromEntries(Object.entries(kserveEnv).map(([k, v]) => [k, templated(v)])),
    MODEL_PATH: mnt,
    WORKERS: "1",
    METRICS_PORT: String(metricsPort),
    ACCESS_LOG: "off",
  });
  t.teardown(() => server.stop());
  for (const probe of [container.readinessProbe, container.livenessProbe])
    t.equal((await request(`${server.url}${probe.httpGet.path}`)).status, 200, `probe ${probe.httpGet.path}`);
  const name = isvc.metadata.name;
  t.same((await request(`${server.url}/v2/models/${name}/ready`)).json, { name, ready: true });
  const infer = await postJson(`${server.url}/v2/models/${name}/infer`, {
    inputs: [{ name: "input-0", datatype: "FP32", shape: [1, 3], data: [180, 80, 44] }],
  });
  t.equal(infer.status, 200, "v2 inference at the InferenceService's name");
  t.match(infer.json, { model_name: name, outputs: [{ name: "predict", shape: [1] }] });
  const metrics = await request(
    `http://127.0.0.1:${metricsPort}${runtime.spec.annotations["prometheus.kserve.io/path"]}`,
  );
  t.match(metrics.text, /forestd_http_requests_total/, "metrics where the annotations say");
});

t.test(
  "the multi-model runtime: TrainedModels KServe's agent puts in /mnt/models are served by name",
  async (t) => {
    const multi = read("multi-model-serving-runtime.yaml");
    const docs = parseAllDocuments(
      readFileSync(join(ROOT, "deploy", "kserve", "trained-models.yaml"), "utf8"),
    ).map((d) => d.toJSON() as K8sObject);
    t.equal(multi.kind, "ServingRuntime");
    t.equal(multi.spec.multiModel, true, "multiModel: KServe adds its model agent");
    for (const key of Object.keys(multi.spec))
      t.ok(SERVING_RUNTIME_FIELDS.has(key), `spec.${key} is a field`);
    for (const c of multi.spec.containers)
      t.doesNotThrow(() => new Container(c).validate(), `container ${c.name} is valid`);
    for (const v of multi.spec.volumes ?? [])
      t.doesNotThrow(() => new Volume(v).validate(), `volume ${v.name}`);
    const predictor = docs.find((d) => d.kind === "InferenceService") as K8sObject;
    t.equal(predictor.spec.predictor.model.runtime, multi.metadata.name, "the predictor names the runtime");
    const trained = docs.filter((d) => d.kind === "TrainedModel");
    t.ok(trained.length >= 2, `${trained.length} TrainedModels`);
    for (const m of trained) {
      t.equal(m.apiVersion, "serving.kserve.io/v1alpha1");
      t.equal(
        m.spec.inferenceService,
        predictor.metadata.name,
        `${m.metadata.name} is placed on the predictor`,
      );
      t.same(
        Object.keys(m.spec.model).sort(),
        ["framework", "memory", "storageUri"],
        "TrainedModelSpec's fields",
      );
    }

    // As the agent leaves /mnt/models: a folder per TrainedModel, its file and SUCCESS.<sha256>.
    const mEnv = Object.fromEntries(
      (multi.spec.containers[0].env as { name: string; value: string }[]).map((e) => [e.name, e.value]),
    );
    t.equal(mEnv.MODEL_REPOSITORY, KSERVE_MODEL_DIR);
    const mnt = mkdtempSync(join(tmpdir(), "forestd-mnt-multi-"));
    const place = (name: string) => {
      mkdirSync(join(mnt, name));
      copyFileSync(defaultModelPath(), join(mnt, name, "model.json"));
      writeFileSync(join(mnt, name, `SUCCESS.${"0f".repeat(32)}`), "{}");
    };
    place(trained[0].metadata.name);
    const { BIND: _bind, ...runtimeEnv } = mEnv;
    const server = await startServer({
      ...runtimeEnv,
      MODEL_REPOSITORY: mnt,
      MODEL_POLL_INTERVAL: "0.5",
      WORKERS: "1",
      METRICS_PORT: "0",
      ACCESS_LOG: "off",
    });
    t.teardown(() => server.stop());
    const first = trained[0].metadata.name;
    t.same((await request(`${server.url}/v2/models/${first}/ready`)).json, { name: first, ready: true });
    // The agent's next download is picked up by the poll; its load call to the serving port is not ours.
    const second = trained[1].metadata.name;
    place(second);
    await waitFor(
      async () => (await request(`${server.url}/v2/models/${second}/ready`)).status === 200,
      15_000,
    );
    const agentLoad = await postJson(`${server.url}/v2/repository/models/${second}/load`, {});
    t.equal(
      agentLoad.status,
      404,
      "the agent's load POST on the serving port: 404 (the API is on METRICS_PORT)",
    );
    const infer = await postJson(`${server.url}/v2/models/${second}/infer`, {
      inputs: [{ name: "input-0", datatype: "FP32", shape: [1, 3], data: [180, 80, 44] }],
    });
    t.match(infer.json, { model_name: second, outputs: [{ name: "predict" }] });
    // A TrainedModel deleted: the agent removes its folder, the poll unloads it.
    rmSync(join(mnt, first), { recursive: true });
    await waitFor(
      async () => (await request(`${server.url}/v2/models/${first}/ready`)).status === 404,
      15_000,
    );
    t.pass("unloaded once its folder is gone");
  },
);
