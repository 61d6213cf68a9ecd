import { expect, test } from "@playwright/test";
import { startTrellis, type Trellis } from "./server";

let trellis: Trellis;

test.beforeAll(async () => {
  trellis = await startTrellis();
});

test.afterAll(() => trellis?.stop());

test("a first sign-in chooses a password, shows the tenant and role, and signs out", async ({ page }, info) => {
  await page.goto(trellis.url + "/");
  await page.getByLabel("Email").fill(trellis.owner.email);
  await page.getByLabel("Password").fill(trellis.owner.password);
  await page.getByRole("button", { name: "Sign in" }).click();

  await page.getByLabel("New password").fill("a passphrase of my own");
  await page.getByRole("button", { name: "Save and continue" }).click();

  const who = page.getByTestId("who");
  await expect(who).toContainText(trellis.tenantId);
  await expect(who).toContainText("owner");
  await expect(page.getByRole("heading", { name: "Workflows" })).toBeVisible();
  await page.screenshot({ path: info.outputPath("signed-in.png") });

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
});

test("a wrong password is refused with the server's message", async ({ page }, info) => {
  await page.goto(trellis.url + "/");
  await page.getByLabel("Email").fill(trellis.owner.email);
  await page.getByLabel("Password").fill("not the password at all");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  await page.screenshot({ path: info.outputPath("refused.png") });
});
