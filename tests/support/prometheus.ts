/**
 * Test support: a strict parser of the Prometheus text exposition format
 * (0.0.4), so tests read /metrics the way a scraper would and fail on any
 * line a scraper would reject.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  /** Family name to its `# TYPE`. */
  types: Map<string, string>;
  /** Family name to its `# HELP`. */
  help: Map<string, string>;
  samples: Sample[];
  /** The value of the one sample with this name and exactly these labels; throws if absent. */
  value(name: string, labels?: Record<string, string>): number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function familyOf(name: string, types: Map<string, string>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && ["histogram", "summary"].includes(types.get(base) ?? "")) return base;
  }
  return name;
}

function parseValue(text: string, line: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) throw new Error(`Bad sample value: ${line}`);
  return Number(text);
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
  let at = 0;
  while (at < text.length) {
    pair.lastIndex = at;
    const match = pair.exec(text);
    if (!match) throw new Error(`Bad labels: ${line}`);
    if (match[1] in labels) throw new Error(`Repeated label ${match[1]}: ${line}`);
    labels[match[1]] = match[2].replace(/\\([\\"n])/g, (_, c) => c === "n" ? "\n" : c);
    at = pair.lastIndex;
  }
  return labels;
}

export function parseExposition(text: string): Exposition {
  if (!text.endsWith("\n")) throw new Error("Exposition must end with a line break");
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      if (!NAME.test(name)) throw new Error(`Bad metric name: ${line}`);
      if (kind === "TYPE") {
        if (!TYPES.has(rest)) throw new Error(`Bad type: ${line}`);
        if (types.has(name) || seen.has(name)) throw new Error(`TYPE repeated or after samples: ${line}`);
        types.set(name, rest);
      } else {
        if (help.has(name)) throw new Error(`HELP repeated: ${line}`);
        help.set(name, rest);
      }
      continue;
    }
    if (line.startsWith("#")) continue;
    const match = /^([^{\s]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || !NAME.test(match[1])) throw new Error(`Bad sample line: ${JSON.stringify(line)}`);
    const name = match[1];
    const family = familyOf(name, types);
    if (!types.has(family)) throw new Error(`Sample before its TYPE: ${line}`);
    seen.add(family);
    samples.push({ name, labels: parseLabels(match[2] ?? "", line), value: parseValue(match[3], line) });
  }
  return {
    types,
    help,
    samples,
    value(name, labels = {}) {
      const wanted = JSON.stringify(Object.entries(labels).sort());
      const found = samples.filter((s) =>
        s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted
      );
      if (found.length !== 1) throw new Error(`Expected one sample ${name} ${wanted}, found ${found.length}`);
      return found[0].value;
    },
  };
}
