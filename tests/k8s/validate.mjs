// validate.mjs — Kubernetes manifests against the Kubernetes API schemas, offline.
//
// Two checks per object, both from the npm package kubernetes-models (its validators are compiled
// from the upstream OpenAPI document, its type declarations generated from the same document):
//  1. schema: the object's class validator (types, required fields, enums, formats, int-or-string);
//  2. strict: every field name exists in the API type, at any depth (the OpenAPI schemas allow
//     unknown fields, which `kubectl apply` drops or, with --validate=strict, refuses: a typo such as
//     `readinesProbe` would otherwise pass). The field lists come from the package's .d.ts files.
// It knows nothing of rlaifvd: the project's own cross-checks are in test_kubernetes.mjs.
//
//   node validate.mjs FILE.yaml...     prints one line per object, exit 1 on any error
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseAllDocuments } from "yaml";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NM = path.join(HERE, "node_modules");
const MODELS = path.join(NM, "kubernetes-models");

/* ---- the field lists of the API types, from the .d.ts files ---- */

const dtsCache = new Map(); // file -> {name, fields: Map(field -> type text), imports: Map(type -> file)} or null

function resolveImport(spec, from) {
  const base = spec.startsWith(".") ? path.resolve(path.dirname(from), spec) : path.join(NM, spec);
  return base.replace(/\.js$/, "") + ".d.ts";
}

// The interface a .d.ts file declares (null for a type alias such as Quantity or IntOrString).
function parseDts(file) {
  if (dtsCache.has(file)) return dtsCache.get(file);
  let out = null;
  if (existsSync(file)) {
    const text = readFileSync(file, "utf8");
    const imports = new Map();
    for (const m of text.matchAll(/import \{ ([\w, ]+) \} from "([^"]+)"/g))
      for (const name of m[1].split(",").map((s) => s.trim())) imports.set(name, resolveImport(m[2], file));
    const head = text.match(/^export interface (\w+)(?: extends ([\w, ]+))? \{$/m);
    if (head) {
      const fields = new Map();
      if (head[2] && head[2].includes("TypeMeta")) fields.set("apiVersion", "string").set("kind", "string");
      const lines = text.slice(head.index).split("\n");
      for (let i = 1; i < lines.length && lines[i] !== "}"; i++) {
        const f = lines[i].match(/^ {4}"([^"]+)"\??: (.*)$/);
        if (!f) continue;
        let type = f[2];
        if (type === "{") { // a map: { [key: string]: T; }
          const v = lines[i + 1].match(/\[key: string\]: (.*);$/);
          type = `Map<${v ? v[1] : "any"}>`;
          while (i < lines.length && lines[i] !== "    };") i++;
        }
        fields.set(f[1], type.replace(/;$/, ""));
      }
      out = { name: head[1], fields, imports };
    }
  }
  dtsCache.set(file, out);
  return out;
}

// Unknown field names under data, whose type (type text in the declaring file) is given.
function strict(data, type, file, where, errors) {
  if (data === null || data === undefined) return;
  let m;
  if ((m = type.match(/^Array<(.*)>$/))) {
    if (Array.isArray(data)) data.forEach((x, i) => strict(x, m[1], file, `${where}[${i}]`, errors));
  } else if ((m = type.match(/^Map<(.*)>$/))) {
    if (typeof data === "object") for (const [k, v] of Object.entries(data)) strict(v, m[1], file, `${where}.${k}`, errors);
  } else if (/^I\w+$/.test(type)) {
    const decl = parseDts(parseDts(file).imports.get(type) || "");
    if (!decl || typeof data !== "object" || Array.isArray(data)) return; // an alias (Quantity, IntOrString...)
    const declFile = parseDts(file).imports.get(type);
    for (const [k, v] of Object.entries(data)) {
      if (!decl.fields.has(k)) errors.push(`${where}.${k}: unknown field (${decl.name.replace(/^I/, "")} has no '${k}')`);
      else strict(v, decl.fields.get(k), declFile, `${where}.${k}`, errors);
    }
  }
}

/* ---- one object ---- */

// Errors of one parsed object (an empty list when it is valid).
export async function validateObject(obj) {
  if (!obj || typeof obj !== "object" || !obj.apiVersion || !obj.kind) return ["not a Kubernetes object (apiVersion, kind)"];
  const dir = path.join(MODELS, obj.apiVersion);
  const file = path.join(dir, `${obj.kind}.d.ts`);
  if (!existsSync(path.join(dir, "index.js")) || !existsSync(file))
    return [`unknown apiVersion/kind ${obj.apiVersion} ${obj.kind} (not in Kubernetes' API)`];
  const mod = await import(pathToFileURL(path.join(dir, "index.js")).href);
  const errors = [];
  try {
    new mod[obj.kind](obj).validate();
  } catch (e) {
    errors.push(...String(e.message).split(", ").map((s) => `schema: ${s}`));
  }
  // the class's own declaration: its fields are those of the interface I<Kind>
  const self = parseDts(file);
  for (const [k, v] of Object.entries(obj)) {
    if (!self.fields.has(k)) errors.push(`${obj.kind}.${k}: unknown field (${obj.kind} has no '${k}')`);
    else strict(v, self.fields.get(k), file, `${obj.kind}.${k}`, errors);
  }
  return errors;
}

// [{file, index, object, errors}] for every document of the files.
export async function validateFiles(files) {
  const out = [];
  for (const f of files) {
    const docs = parseAllDocuments(readFileSync(f, "utf8"));
    for (const [i, d] of docs.entries()) {
      const errors = d.errors.map((e) => `YAML: ${e.message}`);
      const object = d.toJS();
      if (!errors.length && object !== null) errors.push(...(await validateObject(object)));
      if (object !== null || errors.length) out.push({ file: f, index: i, object, errors });
    }
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = await validateFiles(process.argv.slice(2));
  let bad = 0;
  for (const r of results) {
    const name = r.object ? `${r.object.kind}/${r.object.metadata?.name}` : "?";
    console.log(`${r.errors.length ? "INVALID" : "valid  "} ${path.basename(r.file)}#${r.index} ${name}`);
    for (const e of r.errors) console.log(`    ${e}`);
    bad += r.errors.length > 0;
  }
  process.exit(bad ? 1 : 0);
}
