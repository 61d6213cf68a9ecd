import { expect, test } from "@playwright/test";
import { startTrellis, type Trellis } from "./server";
import { choosePassword, signIn, withKey } from "./session";

let trellis: Trellis;

test.beforeAll(async ({ request }) => {
  trellis = await startTrellis();
  await choosePassword(request, trellis, trellis.owner.email, trellis.owner.password);
});

test.afterAll(() => trellis?.stop());

test("an API key's secret is shown once and a secret's value never", async ({ page, request }, info) => {
  await signIn(page, trellis);
  await page.getByRole("link", { name: "API keys" }).click();
  await page.getByLabel("Name").fill("deploys");
  await page.getByLabel("Role").selectOption("operator");
  await page.getByRole("button", { name: "Create key" }).click();
  const secret = (await page.getByTestId("key-secret").textContent()) ?? "";
  expect(secret.length).toBeGreaterThan(20);
  // The key works, and the page never shows its secret again.
  const me = await request.get(`${trellis.url}/v1/me`, { headers: { authorization: `Bearer ${secret}` } });
  expect((await me.json()).role).toBe("operator");
  await page.screenshot({ path: info.outputPath("key.png") });
  await page.reload();
  await expect(page.getByRole("cell", { name: "deploys", exact: true })).toBeVisible();
  await expect(page.getByText(secret)).toHaveCount(0);

  await page.getByRole("link", { name: "Secrets" }).click();
  await page.getByLabel("Name").fill("stripe-key");
  await page.getByLabel("Value").fill("sk_test_not_shown_anywhere");
  await page.getByRole("button", { name: "Save secret" }).click();
  await expect(page.getByRole("status")).toHaveText("Secret stripe-key saved");
  await expect(page.getByRole("cell", { name: "stripe-key", exact: true })).toBeVisible();
  await expect(page.locator("body")).not.toContainText("sk_test_not_shown_anywhere");
  const listed = await (await request.get(`${trellis.url}/v1/secrets`, { headers: withKey(trellis) })).text();
  expect(listed).not.toContain("sk_test_not_shown_anywhere");
});

test("a member is added with a one-time password, given another role and removed", async ({ page, request }, info) => {
  await signIn(page, trellis);
  await page.getByRole("link", { name: "Members" }).click();
  await page.getByLabel("Email").fill("ops@acme.test");
  await page.getByRole("combobox", { name: "Role", exact: true }).selectOption("operator");
  await page.getByRole("button", { name: "Add member" }).click();
  const oneTime = (await page.getByTestId("one-time-password").textContent()) ?? "";
  const login = await request.post(`${trellis.url}/v1/auth/login`, { data: { email: "ops@acme.test", password: oneTime } });
  expect(login.ok()).toBe(true);

  await page.getByLabel("Role of ops@acme.test").selectOption("editor");
  await expect(page.getByRole("status")).toHaveText("Role changed");
  const members = await (await request.get(`${trellis.url}/v1/members`, { headers: withKey(trellis) })).json();
  expect(members.members.find((m: { email: string }) => m.email === "ops@acme.test").role).toBe("editor");
  await page.screenshot({ path: info.outputPath("members.png") });

  await page.getByRole("row", { name: /ops@acme.test/ }).getByRole("button", { name: "Remove" }).click();
  await expect(page.getByRole("status")).toHaveText("Member removed");
  await expect(page.getByRole("cell", { name: "ops@acme.test" })).toHaveCount(0);
});

test("a plugin uninstalled and installed again from the marketplace gets only the ticked capabilities", async ({ page, request }, info) => {
  await signIn(page, trellis);
  await page.getByRole("link", { name: "Plugins" }).click();
  await page.getByRole("button", { name: "Uninstall trellis/stripe" }).click();
  await expect(page.getByRole("status")).toHaveText("trellis/stripe uninstalled");

  await page.getByLabel("Search the marketplace").fill("stripe");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.getByRole("button", { name: "trellis/stripe" }).click();
  const form = page.getByRole("form", { name: "Install trellis/stripe" });
  await form.getByLabel("reach api.stripe.com").check();
  await expect(form.getByLabel("read the secret *")).not.toBeChecked();
  await page.screenshot({ path: info.outputPath("install.png") });
  await form.getByRole("button", { name: "Install" }).click();
  await expect(form.getByRole("status")).toHaveText("Installed trellis/stripe 0.1.0");
  await expect(page.getByRole("button", { name: "Uninstall trellis/stripe" })).toBeVisible();

  const grants = await request.get(`${trellis.url}/v1/plugins/trellis/stripe/grants`, { headers: withKey(trellis) });
  expect(await grants.json()).toMatchObject({ grants: { hosts: ["api.stripe.com"], secrets: [], kv: false, llm: false } });
});

test("plan and usage show today's runs and a chart of the last 30 days", async ({ page, request }, info) => {
  await request.post(`${trellis.url}/v1/workflows`, {
    headers: withKey(trellis),
    data: { id: "tick", nodes: [{ id: "say", uses: "trellis/transform@^0.1", kind: "render", config: { template: "tick" } }] },
  });
  for (let i = 0; i < 2; i++) {
    const run = await request.post(`${trellis.url}/v1/workflows/tick/runs?wait=10000`, { headers: withKey(trellis), data: { input: {} } });
    expect(run.ok()).toBe(true);
  }
  await signIn(page, trellis);
  await page.getByRole("link", { name: "Plan & usage" }).click();
  await expect(page.getByRole("img", { name: /Daily runs, node executions and LLM tokens/ })).toBeVisible();
  await page.getByText("The same figures as a table").click();
  await expect(page.getByTestId("usage-table").locator("tbody tr")).toHaveCount(1);
  await expect(page.getByTestId("usage-table").locator("tbody td").nth(1)).toHaveText("2");
  await page.screenshot({ path: info.outputPath("usage.png") });
});
