/**
 * The dashboard in a real browser: Debian's headless Chromium driven by
 * playwright-core (never a downloaded browser). Saves a screenshot to a temp
 * dir; with LIKES_UPDATE_SCREENSHOT=1 also to docs/dashboard.png, the one the
 * README shows. Where Chromium cannot be installed, the test is skipped and
 * the test command's closing lines say so; elsewhere the test command installs it.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { exchange, readReplies } from "../support/client.ts";
import { startPrimary } from "../support/primary.ts";
import { tempDir } from "../support/temp.ts";
import { requirement } from "../support/requirements.ts";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const DOCS_SCREENSHOT = new URL("../../docs/dashboard.png", import.meta.url).pathname;

async function send(conn: Deno.TcpConn, lines: string[]): Promise<void> {
  await conn.write(new TextEncoder().encode(lines.join("")));
  const replies = await readReplies(conn, lines.length);
  assert.deepEqual(replies, lines.map(() => "0"));
}

const BROWSER = await requirement("browser");

BROWSER.test({
  name: "dashboard shows the total change live as likes arrive",
  fn: async () => {
    const primary = await startPrimary();
    const browser = await chromium.launch({ executablePath: BROWSER.path("chromium"), args: CHROMIUM_ARGS });
    const conns: Deno.TcpConn[] = [];
    try {
      const origin = `http://127.0.0.1:${primary.httpPort}`;
      const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
      const foreign: string[] = [];
      const errors: string[] = [];
      page.on("request", (request) => {
        if (!request.url().startsWith(`${origin}/`)) foreign.push(request.url());
      });
      page.on("pageerror", (error) => errors.push(error.message));
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text());
      });
      await page.goto(`${origin}/`);
      await page.locator('#total[data-value="0"]').waitFor({ timeout: 15_000 });

      // A few seconds of uneven traffic from four connected LikesServers, so the
      // chart has a shape and the bars differ.
      for (let server = 1; server <= 4; server++) {
        conns.push(await Deno.connect({ hostname: "127.0.0.1", port: primary.port }));
      }
      let expected = 0;
      for (let tick = 0; tick < 24; tick++) {
        for (let i = 0; i < conns.length; i++) {
          const server = i + 1;
          const count = 1 + ((tick * (server + 2) + server * 3) % (2 + server * 2));
          const lines = Array.from(
            { length: count },
            (_, k) => `LikesServer${server} ${1 + (tick + k * server) % 9}\n`,
          );
          for (const line of lines) expected += Number(line.split(" ")[1]);
          await send(conns[i], lines);
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      // One LikesServer that sent and left, a duplicate and an invalid line.
      const replies = await exchange(
        primary.port,
        "LikesServer7 30\nLikesServer7 2 p7 1\nLikesServer7 2 p7 1\nhi\n",
        4,
      );
      assert.deepEqual(replies, ["0", "0", "0 duplicate", "1 unknown message"]);
      expected += 32;

      await page.locator(`#total[data-value="${expected}"]`).waitFor({ timeout: 15_000 });
      assert.equal(await page.textContent("#total"), expected.toLocaleString("en-US"));
      assert.equal(await page.title(), `${expected.toLocaleString("en-US")} likes`);
      assert.equal(await page.textContent("#duplicates"), "1");
      assert.equal(await page.textContent("#invalid"), "1");
      const rows = await page.locator("#servers .row").allTextContents();
      assert.equal(rows.length, 5);
      assert.match(rows[0], /^LikesServer1.*connected/);
      assert.match(rows[4], /^LikesServer7.*32 likes.*offline/);
      assert.equal(await page.locator("#chart canvas").count(), 1);
      assert.deepEqual(foreign, [], "the page loads nothing from elsewhere");
      assert.deepEqual(errors, []);

      const dir = await tempDir();
      await page.screenshot({ path: `${dir}/dashboard.png`, fullPage: true });
      const png = await Deno.readFile(`${dir}/dashboard.png`);
      if (Deno.env.get("LIKES_UPDATE_SCREENSHOT") === "1") await Deno.copyFile(`${dir}/dashboard.png`, DOCS_SCREENSHOT);
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG was written");
    } finally {
      for (const conn of conns) conn.close();
      await browser.close();
      assert.equal((await primary.stop()).code, 0);
    }
  },
});
