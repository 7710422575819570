/** The audit's flags: where the logs of a run are, and how many LikesServers wrote them. */
import { type FlagSpecs, parse } from "../common/cli.ts";
import { likesServerDefaults } from "../producer/options.ts";
import { parentDefaults } from "../supervisor/options.ts";
import { parseRedisUrl, type RedisAddress } from "../primary/backend/redis/store.ts";

export interface AuditOptions {
  /** Directory of the LikesServer logs. @default {"/tmp"} */
  logDir: string;
  /** How many LikesServers ran. @default {10} */
  servers: number;
  /** The primaries' logs; default <log-dir>/PrimaryLikesLog. @default {undefined} */
  primaryLog: string[] | undefined;
  /** The shared store, `redis://HOST:PORT[/DB]` as given and parsed, whose total must match the logs. @default {undefined} */
  store: (RedisAddress & { url: string }) | undefined;
  /** @default {false} */
  json: boolean;
}

// Where and how many the parent writes by default.
export const auditDefaults = {
  logDir: likesServerDefaults.logDir,
  servers: parentDefaults.servers,
  primaryLog: undefined,
  store: undefined,
  json: false,
} satisfies AuditOptions;

export const auditSpecs: FlagSpecs<AuditOptions> = {
  logDir: { help: "Directory of the LikesServer logs", arg: "DIR", parse: parse.path },
  servers: { help: "How many LikesServers ran", arg: "N", parse: parse.integer(1, 1000) },
  primaryLog: {
    help: "The primaries' logs, comma-separated (default: <log-dir>/PrimaryLikesLog)",
    arg: "FILE,…",
    parse: (text) => text.split(",").map(parse.path),
    format: (files) => files!.join(","),
  },
  store: {
    help: "Check the shared total in this Redis against the logs",
    arg: "redis://HOST:PORT[/DB]",
    parse: (text) => ({ ...parseRedisUrl(text), url: text }),
    format: (store) => store!.url,
  },
  json: { help: "Print the report as JSON" },
};
