/** The audit's flags: where the logs of a run are, and how many LikesServers wrote them. */
import { type FlagSpecs, parse } from "../common/cli.ts";
import { likesServerDefaults } from "../producer/options.ts";
import { parentDefaults } from "../supervisor/options.ts";

export interface AuditOptions {
  /** Directory of the LikesServer logs. @default {"/tmp"} */
  logDir: string;
  /** How many LikesServers ran. @default {10} */
  servers: number;
  /** The primary's log; default <log-dir>/PrimaryLikesLog. @default {undefined} */
  primaryLog: string | undefined;
  /** @default {false} */
  json: boolean;
}

// Where and how many the parent writes by default.
export const auditDefaults = {
  logDir: likesServerDefaults.logDir,
  servers: parentDefaults.servers,
  primaryLog: undefined,
  json: false,
} satisfies AuditOptions;

export const auditSpecs: FlagSpecs<AuditOptions> = {
  logDir: { help: "Directory of the LikesServer logs", arg: "DIR", parse: parse.path },
  servers: { help: "How many LikesServers ran", arg: "N", parse: parse.integer(1, 1000) },
  primaryLog: { help: "The primary's log (default: <log-dir>/PrimaryLikesLog)", arg: "FILE", parse: parse.path },
  json: { help: "Print the report as JSON" },
};
