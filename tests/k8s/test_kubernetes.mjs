// test_kubernetes.mjs — deploy/kubernetes/ checked offline (no cluster here; docs/scaling.md says
// what this does and does not prove).
//
// Cases:
//  - every manifest object passes validate.mjs (the Kubernetes API schemas of kubernetes-models,
//    and no field name unknown to the API at any depth), and the set of objects is the one documented;
//  - broken copies are refused, each with the error naming the field: a typo'd field at several
//    depths, a wrong type, a missing required field, a value outside an enum, a malformed quantity,
//    an API version that does not exist, a YAML syntax error (and validate.mjs's exit status);
//  - the project's cross-checks, and a broken copy refused for each: Services select the
//    Deployment's pods and name its ports; probes are /ready and /health on the HTTP port;
//    container ports match --bind / --http-bind; terminationGracePeriodSeconds covers preStop +
//    --max-job-ms + 1 s (docs/operations.md "Signals"); requests = limits, CPU = workers x
//    blas-threads; the HPA scales the Deployment on a metric /metrics has (docs/http.md); the Job's
//    --server names a Service port and its pod is admitted by the NetworkPolicy;
//  - the real programs take the manifests' arguments: rlaifvd started with the Deployment's args
//    (demo models, loopback ports) answers the readiness and liveness probes as written, scores
//    `rlaifv eval` run with the Job's args, and after SIGTERM exits 0 within the grace period
//    minus preStop.
//
//   node test_kubernetes.mjs --deploy DIR --docs DIR --rlaifvd BIN --rlaifv BIN --demo DIR --work DIR
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";
import { validateFiles, validateObject } from "./validate.mjs";
import { parseAllDocuments } from "yaml";

const { values: A } = parseArgs({
  options: Object.fromEntries(["deploy", "docs", "rlaifvd", "rlaifv", "demo", "work"].map((k) => [k, { type: "string" }])),
});
for (const k of ["deploy", "docs", "rlaifvd", "rlaifv", "demo", "work"]) if (!A[k]) throw new Error(`--${k} is required`);

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
const clone = (o) => JSON.parse(JSON.stringify(o));

let objects; // every object of deploy/kubernetes, by "Kind/name"
const get = (key) => clone(objects.get(key));
const container = (dep) => dep.spec.template.spec.containers[0];
const flag = (args, name) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : undefined;
};
const portOf = (endpoint) => Number(endpoint.split(":").pop());

/* ---- the project's cross-checks over the set of objects ---- */

function crossCheck(objs) {
  const errors = [];
  const dep = objs.get("Deployment/rlaifvd");
  const c = container(dep);
  const podLabels = dep.spec.template.metadata.labels;
  const ports = Object.fromEntries(c.ports.map((p) => [p.name, p.containerPort]));
  for (const [k, v] of Object.entries(dep.spec.selector.matchLabels))
    if (podLabels[k] !== v) errors.push(`Deployment selector ${k}=${v} does not select its own pods`);
  for (const [key, o] of objs) {
    if (o.kind !== "Service") continue;
    for (const [k, v] of Object.entries(o.spec.selector || {}))
      if (podLabels[k] !== v) errors.push(`${key} selects ${k}=${v}, not the rlaifvd pods`);
    for (const p of o.spec.ports)
      if (!(p.targetPort in ports)) errors.push(`${key} targets port '${p.targetPort}', not a port of the container`);
  }
  const probe = (name, route) => {
    const g = c[name]?.httpGet;
    if (!g || g.path !== route || g.port !== "http") errors.push(`${name} must be GET ${route} on port http`);
  };
  probe("readinessProbe", "/ready");
  probe("livenessProbe", "/health");
  if (portOf(flag(c.args, "bind") || "") !== ports.zmq) errors.push(`--bind's port is not the zmq containerPort ${ports.zmq}`);
  if (portOf(flag(c.args, "http-bind") || "") !== ports.http) errors.push(`--http-bind's port is not the http containerPort ${ports.http}`);
  const preStop = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
  const jobS = Number(flag(c.args, "max-job-ms") || NaN) / 1000;
  const grace = dep.spec.template.spec.terminationGracePeriodSeconds;
  if (!(grace >= preStop + jobS + 1))
    errors.push(`terminationGracePeriodSeconds ${grace} < preStop ${preStop} + max-job-ms ${jobS} s + 1 s (the drain)`);
  const { requests: rq, limits: lm } = c.resources;
  if (rq.cpu !== lm.cpu || rq.memory !== lm.memory) errors.push("requests and limits differ (Guaranteed QoS keeps the weights' pages)");
  if (Number(rq.cpu) !== Number(flag(c.args, "workers")) * Number(flag(c.args, "blas-threads")))
    errors.push(`cpu ${rq.cpu} is not workers x blas-threads`);
  const hpa = objs.get("HorizontalPodAutoscaler/rlaifvd");
  if (hpa.spec.scaleTargetRef.kind !== "Deployment" || hpa.spec.scaleTargetRef.name !== "rlaifvd")
    errors.push("the HPA does not scale Deployment/rlaifvd");
  const metricsDoc = readFileSync(path.join(A.docs, "http.md"), "utf8");
  for (const m of hpa.spec.metrics)
    if (!metricsDoc.includes("`" + m.pods?.metric?.name + "`")) errors.push(`HPA metric ${m.pods?.metric?.name} is not one of /metrics (docs/http.md)`);
  const job = objs.get("Job/rlaifv-eval");
  const server = flag(job.spec.template.spec.containers[0].args, "server") || "";
  const [, host, port] = server.match(/^tcp:\/\/([^:]+):(\d+)$/) || [];
  const svc = objs.get(`Service/${host}`);
  if (!svc || !svc.spec.ports.some((p) => p.port === Number(port))) errors.push(`the Job's --server ${server} is no Service port`);
  const np = objs.get("NetworkPolicy/rlaifvd");
  const jobLabels = job.spec.template.metadata.labels || {};
  const admitted = np.spec.ingress.some((r) => r.from.some((f) => f.podSelector &&
    Object.entries(f.podSelector.matchLabels).every(([k, v]) => jobLabels[k] === v)));
  if (!admitted) errors.push("the NetworkPolicy does not admit the Job's pod");
  return errors;
}

/* ---- cases ---- */

async function caseAllValid() {
  const files = readdirSync(A.deploy).filter((f) => f.endsWith(".yaml")).map((f) => path.join(A.deploy, f));
  const results = await validateFiles(files);
  const bad = results.filter((r) => r.errors.length);
  assert(!bad.length, JSON.stringify(bad.map((r) => [r.file, r.errors])));
  objects = new Map(results.map((r) => [`${r.object.kind}/${r.object.metadata.name}`, r.object]));
  const want = ["Deployment/rlaifvd", "Service/rlaifvd-http", "Service/rlaifvd-zmq", "Service/rlaifvd-zmq-pods",
    "Job/rlaifv-eval", "HorizontalPodAutoscaler/rlaifvd", "NetworkPolicy/rlaifvd"];
  assert(JSON.stringify([...objects.keys()].sort()) === JSON.stringify(want.sort()), [...objects.keys()].join(" "));
  const errs = crossCheck(objects);
  assert(!errs.length, errs.join("; "));
}

async function expectInvalid(obj, pattern, what) {
  const errs = await validateObject(obj);
  assert(errs.some((e) => pattern.test(e)), `${what}: expected an error matching ${pattern}, got ${JSON.stringify(errs)}`);
}

async function caseSchemaRefusesBroken() {
  let d = get("Deployment/rlaifvd");
  container(d).readinesProbe = container(d).readinessProbe;
  delete container(d).readinessProbe;
  await expectInvalid(d, /containers\[0\]\.readinesProbe: unknown field/, "typo'd probe");
  d = get("Deployment/rlaifvd");
  container(d).livenessProbe.httpGet.paht = "/health";
  await expectInvalid(d, /livenessProbe\.httpGet\.paht: unknown field/, "typo at depth 7");
  d = get("Deployment/rlaifvd");
  d.spec.template.metadata.lables = { a: "b" };
  await expectInvalid(d, /template\.metadata\.lables: unknown field/, "typo in ObjectMeta");
  d = get("Deployment/rlaifvd");
  container(d).ports[0].containerPort = "5555";
  await expectInvalid(d, /containerPort must be integer/, "a string port");
  d = get("Deployment/rlaifvd");
  delete container(d).name;
  await expectInvalid(d, /must have required property name/, "a container without a name");
  d = get("Deployment/rlaifvd");
  d.spec.template.spec.terminationGracePeriodSeconds = "150s";
  await expectInvalid(d, /terminationGracePeriodSeconds must be integer/, "a duration string");
  const h = get("HorizontalPodAutoscaler/rlaifvd");
  delete h.spec.scaleTargetRef;
  await expectInvalid(h, /required property scaleTargetRef/, "an HPA without its target");
  const s = get("Service/rlaifvd-http");
  s.spec.type = "Balancer";
  await expectInvalid(s, /spec\/type must be equal to one of the allowed values/, "a Service type that does not exist");
  d = get("Deployment/rlaifvd");
  container(d).resources.requests.memory = "56 gigs";
  await expectInvalid(d, /requests\/memory must match format "quantity"/, "a memory size that is no quantity");
  const j = get("Job/rlaifv-eval");
  j.apiVersion = "batch/v2";
  await expectInvalid(j, /unknown apiVersion\/kind batch\/v2 Job/, "an API version that does not exist");
  const bad = path.join(A.work, "broken.yaml");
  writeFileSync(bad, "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n spec: {}\n");
  const r = await validateFiles([bad]);
  assert(r.length === 1 && r[0].errors.some((e) => e.startsWith("YAML:")), JSON.stringify(r));
  // the command line's exit status
  const cli = spawnSync(process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), "validate.mjs"), bad]);
  assert(cli.status === 1 && /INVALID/.test(cli.stdout), cli.stdout.toString());
}

async function caseCrossChecksRefuseBroken() {
  const mutate = (key, f, pattern) => {
    const objs = new Map([...objects].map(([k, v]) => [k, clone(v)]));
    f(objs.get(key));
    const errs = crossCheck(objs);
    assert(errs.some((e) => pattern.test(e)), `${key}: expected ${pattern}, got ${JSON.stringify(errs)}`);
  };
  mutate("Service/rlaifvd-zmq", (s) => { s.spec.selector = { app: "other" }; }, /selects app=other/);
  mutate("Service/rlaifvd-http", (s) => { s.spec.ports[0].targetPort = "web"; }, /targets port 'web'/);
  mutate("Deployment/rlaifvd", (d) => { container(d).readinessProbe.httpGet.path = "/health"; }, /readinessProbe must be GET \/ready/);
  mutate("Deployment/rlaifvd", (d) => { container(d).livenessProbe.httpGet.port = 5555; }, /livenessProbe must be GET \/health/);
  mutate("Deployment/rlaifvd", (d) => { container(d).ports[1].containerPort = 8080; }, /--http-bind's port/);
  mutate("Deployment/rlaifvd", (d) => { d.spec.template.spec.terminationGracePeriodSeconds = 30; }, /terminationGracePeriodSeconds 30 </);
  mutate("Deployment/rlaifvd", (d) => {
    const a = container(d).args;
    a[a.findIndex((x) => x.startsWith("--max-job-ms="))] = "--max-job-ms=600000";
  }, /< preStop 10 \+ max-job-ms 600 s/);
  mutate("Deployment/rlaifvd", (d) => { container(d).resources.limits.memory = "64Gi"; }, /requests and limits differ/);
  mutate("Deployment/rlaifvd", (d) => { container(d).resources.requests.cpu = container(d).resources.limits.cpu = "8"; }, /cpu 8 is not/);
  mutate("HorizontalPodAutoscaler/rlaifvd", (h) => { h.spec.metrics[0].pods.metric.name = "rlaifv_queue_len"; }, /rlaifv_queue_len is not one of/);
  mutate("Job/rlaifv-eval", (j) => { j.spec.template.spec.containers[0].args[1] = "--server=tcp://rlaifvd:5555"; }, /is no Service port/);
  mutate("Job/rlaifv-eval", (j) => { j.spec.template.metadata.labels = {}; }, /does not admit the Job's pod/);
}

const freePort = () => new Promise((ok) => {
  const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => ok(p)); });
});
const httpGet = (port, route) => new Promise((ok) => {
  http.get({ host: "127.0.0.1", port, path: route, timeout: 3000 }, (r) => { r.resume(); ok(r.statusCode); })
    .on("error", () => ok(0)).on("timeout", function () { this.destroy(); });
});
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function caseRealProgramsTakeTheArgs() {
  const dep = get("Deployment/rlaifvd");
  const c = container(dep);
  const zmq = await freePort(), web = await freePort();
  const args = c.args.map((a) =>
    a.startsWith("--model=") ? `--model=${A.demo}/policy` :
    a.startsWith("--ref-model=") ? `--ref-model=${A.demo}/reference` :
    a.startsWith("--bind=") ? `--bind=tcp://127.0.0.1:${zmq}` :
    a.startsWith("--http-bind=") ? `--http-bind=127.0.0.1:${web}` : a);
  const d = spawn(A.rlaifvd, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  d.stderr.on("data", (b) => { log += b; });
  const exited = new Promise((ok) => d.on("exit", (code, sig) => ok({ code, sig })));
  try {
    const rp = c.readinessProbe.httpGet, lp = c.livenessProbe.httpGet;
    let ready = 0;
    for (let i = 0; i < 240 && ready !== 200 && d.exitCode === null; i++) {
      ready = await httpGet(web, rp.path);
      if (ready !== 200) await sleep(250);
    }
    assert(ready === 200, `the readiness probe ${rp.path} never answered 200 (${ready}); rlaifvd: ${log}`);
    assert((await httpGet(web, lp.path)) === 200, `the liveness probe ${lp.path} did not answer 200`);
    // the Job's rlaifv eval, with its --server pointed at this daemon and its files in the work folder
    const job = get("Job/rlaifv-eval").spec.template.spec.containers[0];
    copyFileSync(path.join(A.demo, "sample.png"), path.join(A.work, "sample.png"));
    const rows = Array.from({ length: 6 }, (_, i) => JSON.stringify({ id: i, image: "sample.png", question: `What is it ${i}?`,
      chosen: "A car and sheep.", rejected: "A boat.", origin_dataset: i % 2 ? "a" : "b" })).join("\n") + "\n";
    writeFileSync(path.join(A.work, "rlaifv_pairs.jsonl"), rows);
    mkdirSync(path.join(A.work, "out"), { recursive: true });
    rmSync(path.join(A.work, "out", "scored.jsonl"), { force: true });
    const jargs = job.args.map((a) => a.startsWith("--server=") ? `--server=tcp://127.0.0.1:${zmq}` : a.replace("=/data/", `=${A.work}/`));
    assert(job.command[0] === "rlaifv", job.command);
    const e = spawnSync(A.rlaifv, jargs, { encoding: "utf8" });
    assert(e.status === 0, `rlaifv ${jargs.join(" ")}: ${e.status} ${e.stderr}`);
    const sum = JSON.parse(e.stdout);
    assert(sum.items === 6 && sum.group_by === "origin_dataset" && sum.concurrency === 4, e.stdout);
    // SIGTERM: the drain ends well within the grace period left after preStop
    const t0 = Date.now();
    d.kill("SIGTERM");
    const { code } = await exited;
    const s = (Date.now() - t0) / 1000;
    const budget = dep.spec.template.spec.terminationGracePeriodSeconds - c.lifecycle.preStop.sleep.seconds;
    assert(code === 0 && s < budget, `rlaifvd exited ${code} ${s} s after SIGTERM (budget ${budget} s)`);
    console.log(`     rlaifvd ready with the Deployment's args; the Job's eval scored 6 rows; SIGTERM -> exit 0 in ${s.toFixed(2)} s`);
  } finally {
    if (d.exitCode === null) d.kill("SIGKILL");
  }
}

rmSync(A.work, { recursive: true, force: true });
mkdirSync(A.work, { recursive: true });
let passed = 0, failed = 0;
for (const c of [caseAllValid, caseSchemaRefusesBroken, caseCrossChecksRefuseBroken, caseRealProgramsTakeTheArgs]) {
  const t0 = Date.now();
  try {
    await c();
    passed++;
    console.log(`ok   ${c.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${c.name}\n${e.stack}`);
    if (!objects) break; // the later cases need the parsed manifests
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
