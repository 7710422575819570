import assert from "node:assert/strict";
import { parseRedisInfo, redisUse } from "../../lib/bench/redis.ts";

Deno.test("parseRedisInfo() and redisUse() read CPU seconds and RSS from an INFO reply", () => {
  const info = [
    "# Memory",
    "used_memory:1013400",
    "used_memory_rss:9043968",
    "",
    "# CPU",
    "used_cpu_sys:0.123456",
    "used_cpu_user:0.250000",
    "used_cpu_sys_children:5.000000",
    "",
  ].join("\r\n");
  const fields = parseRedisInfo(info);
  assert.equal(fields.get("used_memory_rss"), "9043968");
  assert.equal(fields.has("# Memory"), false);
  const use = redisUse(fields);
  assert.ok(Math.abs(use.cpuSeconds - 0.373456) < 1e-9, String(use.cpuSeconds));
  assert.equal(use.rssBytes, 9_043_968);
});

Deno.test("redisUse() refuses an INFO reply without the fields it needs", () => {
  assert.throws(() => redisUse(parseRedisInfo("used_cpu_sys:1\r\nused_cpu_user:1\r\n")), /used_memory_rss/);
  assert.throws(() => redisUse(parseRedisInfo("used_cpu_sys:x\r\n")), /used_cpu_sys/);
});
