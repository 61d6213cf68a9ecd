import { expect, test } from "@playwright/test";
import { startTrellis, type Trellis } from "./server";
import { choosePassword, signIn, withKey } from "./session";

let trellis: Trellis;
const VIEWER = "viewer@acme.test";

test.beforeAll(async ({ request }) => {
  trellis = await startTrellis();
  await choosePassword(request, trellis, trellis.owner.email, trellis.owner.password);
  const saved = await request.post(`${trellis.url}/v1/workflows`, {
    headers: withKey(trellis),
    data: {
      id: "release",
      nodes: [
        { id: "sign-off", builtin: "approval", config: {} },
        { id: "announce", uses: "trellis/transform@^0.1", kind: "render", config: { template: "released" } },
      ],
      edges: [{ from: "sign-off", port: "approved", to: "announce" }],
      ui: { positions: { "sign-off": { x: 40, y: 100 }, announce: { x: 340, y: 100 } } },
    },
  });
  expect(saved.status()).toBe(201);
  const member = await request.post(`${trellis.url}/v1/members`, { headers: withKey(trellis), data: { email: VIEWER, role: "viewer" } });
  expect(member.status()).toBe(201);
  await choosePassword(request, trellis, VIEWER, (await member.json()).password);
});

test.afterAll(() => trellis?.stop());

test("a waiting approval is approved from the run page and the run finishes", async ({ page, request }, info) => {
  const started = await request.post(`${trellis.url}/v1/workflows/release/runs`, { headers: withKey(trellis), data: { input: {} } });
  expect(started.status()).toBe(202);
  const { run } = await started.json();

  await signIn(page, trellis);
  await page.getByRole("link", { name: "Runs" }).click();
  await page.getByRole("link", { name: run.id }).click();
  await expect(page.getByTestId("node-sign-off")).toHaveAttribute("data-status", "waiting");
  await page.getByTestId("node-sign-off").click();
  await page.screenshot({ path: info.outputPath("waiting.png") });
  await page.getByRole("button", { name: "Approve" }).click();

  await expect(page.getByTestId("run-status")).toHaveText("succeeded");
  await expect(page.getByTestId("node-announce")).toHaveAttribute("data-status", "succeeded");
  await page.screenshot({ path: info.outputPath("approved.png") });

  const answer = await request.get(`${trellis.url}/v1/runs/${run.id}`, { headers: withKey(trellis) });
  const detail = await answer.json();
  expect(detail.nodes.find((n: { node_id: string }) => n.node_id === "sign-off").signal).toMatchObject({ approved: true });
});

test("a run is cancelled from its page, and a finished run is re-run from a node", async ({ page, request }, info) => {
  const started = await request.post(`${trellis.url}/v1/workflows/release/runs`, { headers: withKey(trellis), data: { input: {} } });
  const { run } = await started.json();
  await signIn(page, trellis);
  await page.goto(`${trellis.url}/#/runs/${run.id}`);
  await expect(page.getByTestId("node-sign-off")).toHaveAttribute("data-status", "waiting");
  await page.getByRole("button", { name: "Cancel run" }).click();
  await expect(page.getByTestId("run-status")).toHaveText("cancelled");
  await expect(page.getByRole("button", { name: "Cancel run" })).toHaveCount(0);

  // Re-run from the approval: a new run, waiting on it again.
  await page.getByTestId("node-sign-off").click();
  await page.getByRole("button", { name: "Re-run from this node" }).click();
  await expect(page.getByRole("heading", { name: new RegExp(`Run (?!${run.id})`) })).toBeVisible();
  await expect(page.getByTestId("node-sign-off")).toHaveAttribute("data-status", "waiting");
  await page.screenshot({ path: info.outputPath("rerun.png") });
});

test("run history filters by status and by workflow, and pages", async ({ page, request }, info) => {
  // Workflows of this test's own, so the counts do not hang on other tests.
  const save = async (data: object) => expect((await request.post(`${trellis.url}/v1/workflows`, { headers: withKey(trellis), data })).status()).toBe(201);
  await save({ id: "tick", nodes: [{ id: "say", uses: "trellis/transform@^0.1", kind: "render", config: { template: "tick" } }] });
  await save({ id: "gate", nodes: [{ id: "hold", builtin: "approval", config: {} }] });
  expect((await request.post(`${trellis.url}/v1/workflows/tick/runs?wait=10000`, { headers: withKey(trellis), data: { input: {} } })).ok()).toBe(true);
  // 29 waiting runs: more than a page of 25.
  for (let i = 0; i < 29; i++) {
    const started = await request.post(`${trellis.url}/v1/workflows/gate/runs`, { headers: withKey(trellis), data: { input: {} } });
    expect(started.status()).toBe(202);
  }
  await signIn(page, trellis);
  await page.goto(`${trellis.url}/#/workflows/gate`);
  // The editor links to its workflow's runs.
  await page.getByRole("link", { name: "Runs", exact: true }).last().click();
  await expect(page.getByLabel("Workflow")).toHaveValue("gate");
  await expect(page.locator("tbody tr")).toHaveCount(25);
  await page.getByRole("button", { name: "Older" }).click();
  await expect(page.locator("tbody tr")).toHaveCount(4);
  await expect(page.getByRole("button", { name: "Older" })).toBeDisabled();
  await page.getByRole("button", { name: "Newer" }).click();
  await expect(page.locator("tbody tr")).toHaveCount(25);
  await page.getByLabel("Status").selectOption("succeeded");
  await expect(page.locator("tbody tr")).toHaveCount(0);

  // Both filters at once: `tick`'s one run succeeded, none is running.
  await page.getByLabel("Workflow").selectOption("tick");
  await expect(page.locator("tbody tr")).toHaveCount(1);
  await page.getByLabel("Status").selectOption("running");
  await expect(page.locator("tbody tr")).toHaveCount(0);
  await page.screenshot({ path: info.outputPath("history.png") });
});

test("a viewer sees the workflow but no edit, run or admin controls", async ({ page }, info) => {
  await signIn(page, trellis, VIEWER);
  await expect(page.getByTestId("who")).toContainText("viewer");
  const nav = page.getByRole("navigation", { name: "Views" });
  await expect(nav.getByRole("link", { name: "Workflows" })).toBeVisible();
  for (const hidden of ["Members", "API keys", "Secrets"]) await expect(nav.getByRole("link", { name: hidden })).toHaveCount(0);
  await expect(page.getByLabel("New workflow id")).toHaveCount(0);

  await page.getByRole("link", { name: "release" }).click();
  await expect(page.getByTestId("node-sign-off")).toBeVisible();
  await expect(page.getByRole("button", { name: "Save" })).toHaveCount(0);
  await expect(page.getByRole("complementary", { name: "Node palette" })).toHaveCount(0);
  await expect(page.getByRole("tab", { name: "Run" })).toHaveCount(0);
  await page.getByTestId("node-announce").click();
  await expect(page.getByRole("button", { name: "Delete node" })).toHaveCount(0);
  await expect(page.getByRole("textbox", { name: "template", exact: true })).not.toBeEditable();
  await page.screenshot({ path: info.outputPath("viewer.png") });
});
