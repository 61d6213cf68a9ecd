import { defineConfig } from "@playwright/test";

// Browser tests against a real `trellis serve` on loopback (e2e/server.ts),
// in Debian's Chromium: no browser is downloaded.
export default defineConfig({
  testDir: "e2e",
  timeout: 60_000,
  workers: 1,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    viewport: { width: 1280, height: 800 },
    launchOptions: { executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium" },
    screenshot: "on",
    trace: "off",
  },
});
