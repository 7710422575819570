import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../../lib/common/duration.ts";

Deno.test("parseDuration() reads milliseconds, seconds, minutes and hours", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("2s"), 2000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("0ms"), 0);
});

Deno.test("parseDuration() tolerates surrounding spaces and rounds to whole milliseconds", () => {
  assert.equal(parseDuration(" 2s "), 2000);
  assert.equal(parseDuration("1.4ms"), 1);
  assert.equal(parseDuration("0.0015s"), 2);
});

Deno.test("parseDuration() rejects a bare number so that a unit is never guessed", () => {
  assert.throws(() => parseDuration("5"), { name: "RangeError", message: /Invalid duration: "5" \(use a number/ });
});

Deno.test("parseDuration() rejects negative, exponent, unknown-unit and malformed durations", () => {
  for (const text of ["-1s", "1e3s", "1d", "s", "", "1.s", ".5s", "1 s", "1sms", "NaNs", "Infinitys"]) {
    assert.throws(() => parseDuration(text), RangeError, text);
  }
});

Deno.test("parseDuration() rejects a duration beyond exact integer milliseconds", () => {
  assert.throws(() => parseDuration("99999999999999999h"), { name: "RangeError", message: /too long/ });
});

Deno.test("formatDuration() writes each duration in the largest unit that reads naturally", () => {
  assert.equal(formatDuration(0), "0ms");
  assert.equal(formatDuration(850), "850ms");
  assert.equal(formatDuration(1000), "1s");
  assert.equal(formatDuration(2500), "2.5s");
  assert.equal(formatDuration(60_000), "1m");
  assert.equal(formatDuration(90_000), "1m30s");
  assert.equal(formatDuration(3_600_000), "1h");
  assert.equal(formatDuration(86_400_000), "24h");
});

Deno.test("formatDuration() carries rounding into the next unit instead of writing 60 of the smaller one", () => {
  assert.equal(formatDuration(999.6), "1s");
  assert.equal(formatDuration(59_999), "1m");
  assert.equal(formatDuration(119_600), "2m");
  assert.equal(formatDuration(179_999), "3m");
});

Deno.test("formatDuration() output of whole units parses back to the same duration", () => {
  for (const ms of [1, 999, 1000, 1500, 59_000, 60_000, 300_000, 3_600_000, 86_400_000]) {
    assert.equal(parseDuration(formatDuration(ms)), ms, String(ms));
  }
});
